import { KERNEL_FACTS_NONE, KERNEL_FACTS_SPACE, KERNEL_FACTS_UNANSWERED, type KernelEvidence, type KernelRecord, type Socket } from '../../model';
import type { Context } from '../context';
import { BIRTH_DIRECTION_BY_CODE, birthDirection, directionOfFacts, type KernelRuleName } from '../kernel-direction';

// The kernel's own memory of how a socket was made, read with eBPF (docs/kernel-evidence.md).
// It outranks every heuristic: when it speaks, the verdict is certain and nothing else can
// overturn it. Two sources, tried in this order:
//  1. the inet_sock_set_state tracepoint saw the socket born (CLOSE->SYN_SENT: connect();
//     LISTEN->SYN_RECV: accepted), which covers every connection opened while tcpdir runs;
//  2. the socket iterator's fields, first match wins (68 right, 0 wrong, 3 unknown on 71 test
//     sockets on Linux 6.18): SOCK_CONNECT_BIND, SOCK_BINDPORT_LOCK, a bind bucket allocated by
//     connect() (or tw_connect_bind), a live listener's bind bucket, an inherited accept backlog.
// The order of (2) matters: an SO_REUSEPORT client shares a listener's bucket but holds the
// bind-port lock; a former listener that later connected out keeps its backlog but has a
// connect-allocated port.

export interface KernelFinding {
  direction: 'INBOUND' | 'OUTBOUND';
  rule: string;
  detail: string;
}

const DETAILS: Record<KernelRuleName, string> = {
  'handshake-state': 'the kernel holds it as a half-open connection of its own direction',
  'connect-bind': 'the kernel marks the socket SOCK_CONNECT_BIND: connect() chose its local port',
  'bindport-lock': 'the kernel marks the socket SOCK_BINDPORT_LOCK: the application bound this port explicitly, which accepted sockets never carry',
  'connect-allocated-port': "the kernel's bind bucket for this port was allocated by connect()",
  'shares-listener-bucket': "the socket shares a live listener's bind bucket: it is that listener's child",
  'inherited-backlog': "the socket inherited a listener's accept backlog: it was accepted, even though its listener is gone",
};

// The rule names as constants: a `kernel-${rule}` built per call is a fresh string each time,
// and the history recorder keeps one per open connection (3 MB at 100k).
const RULE_NAMES = Object.fromEntries(Object.keys(DETAILS).map((r) => [r, `kernel-${r}`])) as Record<KernelRuleName, string>;

/** Rules of the kernel source, for the rule table (docs/classifier.md). */
export const KERNEL_RULES: ReadonlyArray<{ rule: string; favors: string; why: string }> = [
  { rule: 'kernel-birth', favors: 'EITHER', why: 'The state-change tracepoint saw the socket born: CLOSE->SYN_SENT (connect) or LISTEN->SYN_RECV (accepted).' },
  { rule: 'kernel-connect-bind', favors: 'OUTBOUND', why: DETAILS['connect-bind'] },
  { rule: 'kernel-bindport-lock', favors: 'OUTBOUND', why: DETAILS['bindport-lock'] },
  { rule: 'kernel-connect-allocated-port', favors: 'OUTBOUND', why: `${DETAILS['connect-allocated-port']} (or TIME_WAIT tw_connect_bind)` },
  { rule: 'kernel-shares-listener-bucket', favors: 'INBOUND', why: DETAILS['shares-listener-bucket'] },
  { rule: 'kernel-inherited-backlog', favors: 'INBOUND', why: DETAILS['inherited-backlog'] },
];

export function kernelRecordOf(ctx: Context, conn: Socket): KernelRecord | undefined {
  return conn.cookie === null ? undefined : ctx.snapshot.kernel?.records.get(conn.cookie);
}

// The verdict code of packed facts (kernel-direction.ts): +1 inbound, -1 outbound, 0 when no
// rule fires or the rule is the handshake state (which the classifier's own handshake rule reads).
const VERDICT_OF_FACTS = (() => {
  const t = new Int8Array(KERNEL_FACTS_SPACE);
  for (let key = 0; key < KERNEL_FACTS_SPACE; key++) {
    if (key >> 7 === 0 || key >> 7 > 12) continue;
    const d = directionOfFacts(key);
    t[key] = d.rule === null || d.rule === 'handshake-state' ? 0 : d.direction === 'INBOUND' ? 1 : d.direction === 'OUTBOUND' ? -1 : 0;
  }
  return t;
})();

/**
 * The hot-path form of kernelFinding, for every connection of the context at once: out[i] is +1
 * inbound, -1 outbound, 0 when the kernel says nothing about ctx.conns[i]. By position in the
 * snapshot's socket list where the evidence can (KernelRecordIndex.factsAt: it compares sockets
 * by identity and never reads the objects, which are cold in cache after the kernel's walk),
 * else one births lookup (skipped when there are none) and one facts lookup per cookie; then a
 * table from facts (and birth transitions) to the verdict code. `facts` and `births` keep, per
 * connection, what was looked up (KERNEL_FACTS_NONE: no record; 0: no birth) for kernelFindingAt.
 */
export function kernelCodes(ctx: Context, out: Int8Array, facts: Int32Array, births: Uint8Array): void {
  const k = ctx.snapshot.kernel;
  const n = ctx.conns.length;
  if (!k || !k.available) {
    out.fill(0, 0, n);
    facts.fill(KERNEL_FACTS_NONE, 0, n);
    births.fill(0, 0, n);
    return;
  }
  if (k.records.factsAt) k.records.factsAt(ctx.socketIndex, ctx.conns, facts, births);
  else facts.fill(KERNEL_FACTS_UNANSWERED);
  for (let i = 0; i < n; i++) {
    let f = facts[i];
    let b = births[i];
    if (f === KERNEL_FACTS_UNANSWERED) {
      const cookie = ctx.conns[i].cookie;
      b = cookie !== null && k.births.size > 0 ? k.births.transition(cookie) : 0;
      f = cookie === null ? KERNEL_FACTS_NONE : (k.records.facts(cookie) ?? KERNEL_FACTS_NONE);
      facts[i] = f;
      births[i] = b;
    }
    const born = BIRTH_DIRECTION_BY_CODE[b];
    out[i] = born !== 0 ? born : f < 0 ? 0 : VERDICT_OF_FACTS[f];
  }
}

/** What the kernel says about `conn`, or null when it says nothing (or was not read). */
export function kernelFinding(ctx: Context, conn: Socket): KernelFinding | null {
  const k = ctx.snapshot.kernel;
  if (!k || !k.available || conn.cookie === null) return null;
  const birth = k.births.get(conn.cookie);
  const bornAs = birth ? birthDirection(birth.code) : null;
  if (birth && bornAs) {
    return { direction: bornAs, rule: 'kernel-birth', detail: `the kernel reported this socket's birth while tcpdir ran (${birth.transition})` };
  }
  const f = k.records.facts(conn.cookie);
  return f === undefined ? null : findingOfFacts(f);
}

/** The finding of a record's packed facts (the handshake state is the classifier's own rule). */
function findingOfFacts(f: number): KernelFinding | null {
  const d = directionOfFacts(f);
  if (d.direction === 'UNKNOWN' || d.rule === null || d.rule === 'handshake-state') return null;
  return { direction: d.direction, rule: RULE_NAMES[d.rule], detail: DETAILS[d.rule] };
}

/**
 * kernelFinding for a connection whose facts and birth code kernelCodes already looked up: no
 * cookie lookups (a list of 40k rows with their evidence spent a tenth of its time in them).
 * A birth still goes through kernelFinding, for its transition's text.
 */
export function kernelFindingAt(ctx: Context, conn: Socket, facts: number, birth: number): KernelFinding | null {
  if (birth !== 0) return kernelFinding(ctx, conn);
  const k = ctx.snapshot.kernel;
  if (!k || !k.available || conn.cookie === null || facts < 0) return null;
  return findingOfFacts(facts);
}

/** A weightless note for every verdict when the kernel source is missing, saying why. */
export function kernelAbsenceNote(ctx: Context): string | null {
  const k = ctx.snapshot.kernel;
  if (!k || k.available) return null;
  return `kernel evidence unavailable (${k.code ?? 'unknown'}): ${k.reason ?? 'no reason given'}; heuristics only`;
}
