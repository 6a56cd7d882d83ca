import { ephemeralPlace, hostOf } from '../context';
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
  why: `Local port inside this namespace's ip_local_port_range and not reserved: outbound (${IN_RANGE_WEIGHT}); outside it or reserved: inbound (${OUT_OF_RANGE_WEIGHT}). Silent when the range is unknown; half weight when it had to be assumed.`,
  score(conn, ctx) {
    const place = ephemeralPlace(ctx, conn);
    if (place === null) return 0;
    const w = place === 'inside' ? -IN_RANGE_WEIGHT : OUT_OF_RANGE_WEIGHT;
    return hostOf(ctx, conn).ephemeralPortRangeAssumed ? w / 2 : w;
  },
  detail(conn, ctx) {
    const h = hostOf(ctx, conn);
    const r = h.ephemeralPortRange!;
    const p = conn.localPort;
    const span = h.ephemeralPortRangeAssumed ? `${r.low}-${r.high} (assumed: the namespace's own could not be read)` : `${r.low}-${r.high}`;
    const place = ephemeralPlace(ctx, conn);
    if (place === 'outside') return `local port ${p} is outside this namespace's ephemeral range ${span}`;
    if (place === 'reserved') return `local port ${p} is reserved (ip_local_reserved_ports), so connect() never picks it`;
    return `local port ${p} is inside this namespace's ephemeral range ${span}`;
  },
};
