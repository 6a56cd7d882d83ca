import { formatEndpoint, type Evidence, type PeerFinding, type Socket } from '../../model';
import type { Context } from '../context';
import type { Rule } from '../rule';

// tcpdir on the host at the other end (a peer agent, `--peers`) judged its own end of this
// connection: its end is the opposite of ours. A certain verdict there (the kernel saw the
// handshake, its listener is live, ...) settles this side. An uncertain one is mostly weighed
// from the same port numbers this side already counts, so it is taken at half its log-odds and
// never past PEER_AGENT_MAX_WEIGHT: alone it stays below the UNKNOWN line (0.75), and it cannot
// carry hints here into a confident verdict on its own. The agent answers from its local
// evidence only (it never asks back), so two agents cannot certify each other in a loop.
export const PEER_AGENT_SHARE = 0.5;
export const PEER_AGENT_MAX_WEIGHT = 1;

const clamp = (x: number): number => Math.max(-PEER_AGENT_MAX_WEIGHT, Math.min(PEER_AGENT_MAX_WEIGHT, x));

function finding(ctx: Context, conn: Socket): PeerFinding | undefined {
  return ctx.snapshot.peers?.bySocket.get(conn.id);
}

export const peerAgent: Rule = {
  name: 'peer-agent',
  favors: 'EITHER',
  weight: 'conclusive',
  why: `tcpdir runs on the host at the other end (\`--peers\`) and was asked for its verdict of that end (endpoints swapped): its end is the opposite of this one. Conclusive when its verdict is certain; otherwise ${PEER_AGENT_SHARE} x its log-odds, within +-${PEER_AGENT_MAX_WEIGHT} (alone, below the UNKNOWN line). An unreachable agent is a note.`,
  score(conn, ctx) {
    const v = finding(ctx, conn)?.verdict;
    if (!v || v.direction === 'UNKNOWN' && v.inboundProbability === 0.5) return 0;
    if (v.certain) return v.direction === 'INBOUND' ? -Infinity : v.direction === 'OUTBOUND' ? Infinity : 0;
    // The far side's P(inbound) is this side's P(outbound).
    const p = Math.min(Math.max(v.inboundProbability, 1e-4), 1 - 1e-4);
    return clamp(PEER_AGENT_SHARE * Math.log((1 - p) / p));
  },
  detail(conn, ctx) {
    const f = finding(ctx, conn)!;
    const v = f.verdict!;
    const far = `${formatEndpoint(conn.remoteAddress, conn.remotePort)}`;
    const what = v.certain ? `certain ${v.direction}` : `${v.direction} at ${v.confidence} (P(inbound) ${v.inboundProbability})`;
    return `the tcpdir agent at ${f.peer} judges its end ${far} ${what}, so this end is the opposite`;
  },
};

/** A weightless note when the peer agent gave no verdict: unreachable, too slow, or no such connection there. */
export function peerAgentNote(ctx: Context, conn: Socket): Evidence | null {
  const f = finding(ctx, conn);
  if (!f || f.verdict || !f.note) return null;
  return { rule: 'peer-agent', favors: 'UNKNOWN', weight: 0, detail: f.note, conclusive: false };
}
