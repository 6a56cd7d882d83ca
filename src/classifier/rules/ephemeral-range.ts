import { inRanges } from '../context';
import type { Rule } from '../rule';

// connect() without bind() takes its local port from this namespace's ip_local_port_range, minus
// ip_local_reserved_ports. Nearly every outbound connection sits inside it; services mostly listen
// outside it, though some do listen inside (RPC, dynamic ports). Outside the range is weaker
// evidence the other way: clients that bind() pick any port (NFS-style low ports, fixed source ports).
// The range is read from the snapshot's namespace, never assumed.
export const IN_RANGE_WEIGHT = 2;
export const OUT_OF_RANGE_WEIGHT = 0.5;

export const ephemeralRange: Rule = {
  name: 'ephemeral-range',
  favors: 'EITHER',
  weight: IN_RANGE_WEIGHT,
  why: `Local port inside this namespace's ip_local_port_range and not reserved: outbound (${IN_RANGE_WEIGHT}); outside it or reserved: inbound (${OUT_OF_RANGE_WEIGHT}). Silent when the range is unknown.`,
  score(conn, ctx) {
    const r = ctx.ephemeral;
    if (!r) return 0;
    const p = conn.localPort;
    return p >= r.low && p <= r.high && !inRanges(p, ctx.reserved) ? -IN_RANGE_WEIGHT : OUT_OF_RANGE_WEIGHT;
  },
  detail(conn, ctx) {
    const r = ctx.ephemeral!;
    const p = conn.localPort;
    const span = `${r.low}-${r.high}`;
    if (p < r.low || p > r.high) return `local port ${p} is outside this namespace's ephemeral range ${span}`;
    if (inRanges(p, ctx.reserved)) return `local port ${p} is reserved (ip_local_reserved_ports), so connect() never picks it`;
    return `local port ${p} is inside this namespace's ephemeral range ${span}`;
  },
};
