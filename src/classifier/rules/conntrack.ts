import { formatEndpoint, type Evidence, type Socket } from '../../model';
import { conntrackMatch, conntrackOrigin, type ConntrackMatch } from '../conntrack-join';
import type { Context } from '../context';
import type { Rule } from '../rule';
import { kernelFinding } from './kernel';

// Netfilter's conntrack entry for the connection (docs/classifier.md, "conntrack"). Its ORIGINAL
// source sent the first packet conntrack saw. When that packet was the SYN, that side opened the
// connection; when conntrack adopted the flow mid-stream (nf_conntrack_tcp_loose, the default:
// rules loaded after the connection began, a table flush, a failover), it is whoever spoke first
// afterwards, as often the server as not. tcp_new() marks an adopted entry BE_LIBERAL in both
// directions and a SYN-made one in neither, and ctnetlink exports those flags; a NEW event seen
// in state SYN_SENT proves the SYN. The kernel's own evidence (eBPF) still outranks this.
export const CONNTRACK_SYN_WEIGHT = 5;
export const CONNTRACK_UNKNOWN_ORIGIN_WEIGHT = 1;

const directionOf = (m: ConntrackMatch): 'INBOUND' | 'OUTBOUND' => (m.side === 'original' ? 'OUTBOUND' : 'INBOUND');

function score(m: ConntrackMatch): number {
  const sign = m.side === 'original' ? -1 : 1;
  switch (conntrackOrigin(m.entry)) {
    case 'seen-created': return sign * Infinity;
    case 'syn': return sign * CONNTRACK_SYN_WEIGHT;
    case 'unknown': return sign * CONNTRACK_UNKNOWN_ORIGIN_WEIGHT;
    case 'mid-stream': return 0; // says nothing about who opened it: a note, see conntrackNote
  }
}

function where(m: ConntrackMatch): string {
  const e = m.entry;
  const ns = m.crossNamespace ? ` in namespace ${e.netns ?? 'of tcpdir'}` : '';
  const o = e.original;
  return `conntrack entry${ns} ${formatEndpoint(o.src, o.srcPort)} -> ${formatEndpoint(o.dst, o.dstPort)} (${e.tcpState ?? 'no TCP state'})`;
}

export const conntrack: Rule = {
  name: 'conntrack',
  favors: 'EITHER',
  weight: CONNTRACK_SYN_WEIGHT,
  why: `Netfilter's entry for the flow names as ORIGINAL source the side that sent the first packet it saw (matched by 4-tuple, through NAT, also in another namespace that tracks it). Conclusive when tcpdir saw the entry created from a SYN (NEW event in SYN_SENT); ${CONNTRACK_SYN_WEIGHT} when its TCP flags show it was made from a SYN (no BE_LIBERAL); ${CONNTRACK_UNKNOWN_ORIGIN_WEIGHT} when they cannot tell; nothing when conntrack adopted the flow mid-stream (BE_LIBERAL both ways). Never overrides the kernel's evidence.`,
  score(conn, ctx) {
    const m = conntrackMatch(ctx, conn);
    return m ? score(m) : 0;
  },
  detail(conn, ctx) {
    const m = conntrackMatch(ctx, conn)!;
    const d = directionOf(m);
    const side = m.side === 'original' ? 'this end sent the first packet (ORIGINAL source)' : 'this end answered (REPLY source)';
    const how = {
      'seen-created': 'tcpdir saw the entry created from the SYN',
      syn: 'its TCP flags show it was made from a SYN',
      unknown: 'its TCP flags do not tell whether it was made from a SYN',
      'mid-stream': 'adopted mid-stream',
    }[conntrackOrigin(m.entry)];
    return `${where(m)}: ${side}, ${how}${disagreement(conn, ctx, d)}`;
  },
};

/** ", which disagrees with the kernel..." when the kernel's finding points the other way. */
function disagreement(conn: Socket, ctx: Context, d: 'INBOUND' | 'OUTBOUND'): string {
  const k = kernelFinding(ctx, conn);
  return k && k.direction !== d ? `; this DISAGREES with the kernel (${k.rule}: ${k.direction}), whose verdict stands` : '';
}

/** A weightless note for a connection conntrack adopted mid-stream: its ORIGINAL side proves nothing. */
export function conntrackNote(ctx: Context, conn: Socket): Evidence | null {
  const m = conntrackMatch(ctx, conn);
  if (!m || conntrackOrigin(m.entry) !== 'mid-stream') return null;
  const side = m.side === 'original' ? 'this end' : 'the other end';
  return {
    rule: 'conntrack',
    favors: 'UNKNOWN',
    weight: 0,
    detail: `${where(m)} was adopted mid-stream (BE_LIBERAL both ways: nf_conntrack_tcp_loose): ${side} spoke first after tracking began, which says nothing about who opened it`,
    conclusive: false,
  };
}
