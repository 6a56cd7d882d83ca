import type { Snapshot, Socket, Verdict } from '../model';
import { combine, logOdds } from './combine';
import { buildContext, findPeer, type Context } from './context';
import { peerEvidence, type FirstPass } from './rules/local-peer';
import { remotePort, SOCKET_RULES } from './rules';

export { buildContext, findListener, findPeer, listenerCovers } from './context';
export type { Context } from './context';
export { UNKNOWN_BELOW } from './combine';
export { RULE_TABLE } from './rule-table';

function firstPass(conn: Socket, ctx: Context): FirstPass {
  const evidence = [];
  for (const rule of SOCKET_RULES) {
    const e = rule.evaluate(conn, ctx);
    if (e) evidence.push(e);
  }
  const v = combine(evidence);
  return {
    evidence,
    certain: v.certain,
    direction: v.direction,
    ownLlr: logOdds(evidence.filter((e) => e.rule !== remotePort.name)),
  };
}

/**
 * A verdict for every connection (non-LISTEN socket) of the snapshot, keyed by socket id.
 * Pure: depends on nothing but the snapshot.
 */
export function classify(snapshot: Snapshot, ctx: Context = buildContext(snapshot)): Map<string, Verdict> {
  const passes = new Map<Socket, FirstPass>();
  for (const s of snapshot.sockets) if (s.state !== 'LISTEN') passes.set(s, firstPass(s, ctx));

  const verdicts = new Map<string, Verdict>();
  for (const [conn, mine] of passes) {
    const peer = findPeer(ctx, conn);
    const theirs = peer ? passes.get(peer) : undefined;
    if (!peer || !theirs) {
      verdicts.set(conn.id, combine(mine.evidence));
      continue;
    }
    const pe = peerEvidence(conn, peer, mine, theirs, ctx);
    if (!pe) {
      verdicts.set(conn.id, combine(mine.evidence));
      continue;
    }
    const own = pe.conclusive ? mine.evidence : mine.evidence.filter((e) => e.rule !== remotePort.name);
    verdicts.set(conn.id, combine([pe, ...own]));
  }
  return verdicts;
}
