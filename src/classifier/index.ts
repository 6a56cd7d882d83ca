import type { Snapshot } from '../model';
import { Classification } from './classification';
import { outcome } from './combine';
import { buildContext, findPeerIndexAt, type Context } from './context';
import { listenerGoneScore, peerScore, type EndState } from './rules/local-peer';
import { PORT_HINT_RULES, remotePort, SOCKET_RULES, synAckedRule } from './rules';
import { kernelCodes } from './rules/kernel';
import { noListenerScore } from './rules/no-listener';

export { buildContext, findByTuple, findListener, findPeer, findPeerIndexAt, listenerCovers } from './context';
export type { Context } from './context';
export { Classification } from './classification';
export { UNKNOWN_BELOW } from './combine';
export { RULE_TABLE, ruleTableMarkdown } from './rule-table';
export { kernelFinding, type KernelFinding } from './rules/kernel';
export { conntrackMatch, conntrackOrigin, natOf, unjoinedEntries, type ConntrackMatch, type ConntrackOrigin, type ConntrackSide } from './conntrack-join';

interface Scratch {
  llr: Float64Array;
  own: Float64Array;
  cIn: Uint16Array;
  cOut: Uint16Array;
  fired: Uint8Array;
  /** 1 while only port-number hints have spoken for the connection (see listener-gone). */
  portHintsOnly: Uint8Array;
  /** Kernel findings (eBPF) outrank every heuristic: +1 inbound, -1 outbound, 0 silent. */
  kernel: Int8Array;
  /** The syn-acked rule's score (0 silent): added after the no-listener bound, not bounded by it. */
  synAck: Int8Array;
}

// Working columns of classify, kept between calls (classify runs to completion, never twice at
// once) and refilled: new ones per snapshot were most of its time with 100k connections.
let kept: { cap: number; buf: ArrayBuffer } = { cap: 0, buf: new ArrayBuffer(0) };

function scratch(n: number): Scratch {
  if (kept.cap < n) {
    // An eighth to spare, not double: a host's count drifts a little from one snapshot to the next,
    // and doubling on the first drift past the first size kept 4.6 MiB for 100k connections.
    const cap = Math.ceil(n * 1.125);
    kept = { cap, buf: new ArrayBuffer(cap * 24) };
  }
  const { cap, buf } = kept;
  const s: Scratch = {
    llr: new Float64Array(buf, 0, n),
    own: new Float64Array(buf, cap * 8, n),
    cIn: new Uint16Array(buf, cap * 16, n),
    cOut: new Uint16Array(buf, cap * 18, n),
    fired: new Uint8Array(buf, cap * 20, n),
    portHintsOnly: new Uint8Array(buf, cap * 21, n),
    kernel: new Int8Array(buf, cap * 22, n),
    synAck: new Int8Array(buf, cap * 23, n),
  };
  s.llr.fill(0), s.own.fill(0), s.cIn.fill(0), s.cOut.fill(0), s.fired.fill(0), s.synAck.fill(0);
  s.portHintsOnly.fill(1);
  return s;
}

/**
 * A verdict for every connection (non-LISTEN socket) of the snapshot. Pure: depends on nothing
 * but the snapshot. The hot path only adds numbers; see Classification for the evidence.
 */
export function classify(snapshot: Snapshot, ctx: Context = buildContext(snapshot)): Classification {
  const n = ctx.conns.length;
  const { llr, own, cIn, cOut, fired, portHintsOnly, kernel, synAck } = scratch(n);
  // The verdicts outlive this call: one buffer for all nine columns (each typed array of its
  // own is an allocation that may set off a collection: 100k connections made 13 of them).
  const buf = new ArrayBuffer(n * 43);
  const conf = new Float64Array(buf, 0, n);
  const pIn = new Float64Array(buf, n * 8, n);
  const peerScores = new Float64Array(buf, n * 16, n);
  const goneScores = new Float64Array(buf, n * 24, n);
  const peerIdx = new Int32Array(buf, n * 32, n).fill(-1);
  const kernelFacts = new Int32Array(buf, n * 36, n);
  const dir = new Uint8Array(buf, n * 40, n);
  const sure = new Uint8Array(buf, n * 41, n);
  const kernelBirths = new Uint8Array(buf, n * 42, n);
  kernelCodes(ctx, kernel, kernelFacts, kernelBirths);
  for (let i = 0; i < n; i++) {
    // Settled by the kernel: its own heuristics are never read (its verdict skips them, and a
    // peer settled by the kernel answers with the kernel's word, not with its log-odds).
    // Evidence, when asked for, runs the rules again.
    if (kernel[i] !== 0) continue;
    const conn = ctx.conns[i];
    for (const r of SOCKET_RULES) {
      const s = r.score(conn, ctx);
      if (s === 0) continue;
      fired[i]++;
      if (r === synAckedRule) synAck[i] = s;
      else if (!PORT_HINT_RULES.includes(r)) portHintsOnly[i] = 0;
      if (s === Infinity) cIn[i]++;
      else if (s === -Infinity) cOut[i]++;
      else {
        llr[i] += s;
        if (r !== remotePort) own[i] += s;
      }
    }
  }
  // Two scratch states refilled per pair: peerScore reads them and keeps nothing.
  const mine: EndState = { kernel: 0, certain: 0, ownLlr: 0 };
  const theirs: EndState = { kernel: 0, certain: 0, ownLlr: 0 };
  const end = (i: number, e: EndState): EndState => {
    e.kernel = kernel[i];
    e.certain = kernel[i] !== 0 ? kernel[i] : cIn[i] > 0 && cOut[i] === 0 ? 1 : cOut[i] > 0 && cIn[i] === 0 ? -1 : 0;
    e.ownLlr = own[i];
    return e;
  };

  for (let i = 0; i < n; i++) {
    let total = llr[i], ci = cIn[i], co = cOut[i], f = fired[i];
    if (kernel[i] !== 0) {
      dir[i] = kernel[i] > 0 ? 1 : 2;
      conf[i] = 1;
      pIn[i] = kernel[i] > 0 ? 1 : 0;
      sure[i] = 1;
      continue;
    }
    const j = findPeerIndexAt(ctx, i);
    if (j >= 0) {
      const ps = peerScore(ctx.conns[i], ctx.conns[j], end(i, mine), end(j, theirs), ctx);
      peerIdx[i] = j;
      peerScores[i] = ps;
      if (ps === Infinity) ci++, f++;
      else if (ps === -Infinity) co++, f++;
      else if (ps !== 0) {
        total = own[i] + ps;
        f++;
        if (portHintsOnly[i] && portHintsOnly[j] && synAck[i] === 0 && synAck[j] === 0) {
          const g = listenerGoneScore(total);
          if (g !== 0) (goneScores[i] = g), (total += g), f++;
        }
      }
    } else if (portHintsOnly[i]) {
      // Port hints alone: no conclusive rule fired (none of them is a port hint). The bound holds
      // the hints' lean; syn-acked, a fact about this socket, is added after it: unbounded, it
      // lifted the bound and let the hints (no listener seen, a port in the ephemeral range) call
      // a child of a listener that lived between two snapshots OUTBOUND at 0.92 (bench:accuracy).
      const g = noListenerScore(total, synAck[i]);
      if (g !== 0) (goneScores[i] = g), (total += g), f++;
    }
    const o = outcome(total, ci, co, f);
    dir[i] = Classification.directionCode(o);
    conf[i] = o.confidence;
    pIn[i] = o.inboundProbability;
    sure[i] = o.certain ? 1 : 0;
  }
  return new Classification(ctx, dir, conf, pIn, sure, peerIdx, peerScores, goneScores, kernelFacts, kernelBirths);
}

export * from './kernel-direction';
