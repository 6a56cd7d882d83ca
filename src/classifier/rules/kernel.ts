import { KERNEL_CODE_UNANSWERED, type KernelEvidence, type KernelRecord, type KernelRuleName, type Socket } from '../../model';
import type { Context } from '../context';

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

/**
 * The hot-path form of kernelFinding, for every connection of the context at once: out[i] is +1
 * inbound, -1 outbound, 0 when the kernel says nothing about ctx.conns[i]. No allocation. By
 * position in the snapshot's socket list where the evidence can (KernelRecordIndex.codesAt: it
 * compares sockets by identity and never reads the objects, which are cold in cache after the
 * kernel's walk), else one births lookup (skipped when there are none) and one precomputed
 * direction per cookie.
 */
export function kernelCodes(ctx: Context, out: Int8Array): void {
  const k = ctx.snapshot.kernel;
  const n = ctx.conns.length;
  if (!k || !k.available) {
    out.fill(0, 0, n);
    return;
  }
  if (k.records.codesAt) k.records.codesAt(ctx.socketIndex, ctx.conns, out);
  else out.fill(KERNEL_CODE_UNANSWERED, 0, n);
  for (let i = 0; i < n; i++) if (out[i] === KERNEL_CODE_UNANSWERED) out[i] = kernelCodeByCookie(k, ctx.conns[i]);
}

function kernelCodeByCookie(k: KernelEvidence, conn: Socket): number {
  if (conn.cookie === null) return 0;
  if (k.births.size > 0) {
    const birth = k.births.direction(conn.cookie);
    if (birth !== 0) return birth;
  }
  const d = k.records.direction(conn.cookie);
  if (!d || d.rule === null || d.rule === 'handshake-state') return 0;
  return d.direction === 'INBOUND' ? 1 : d.direction === 'OUTBOUND' ? -1 : 0;
}

/** What the kernel says about `conn`, or null when it says nothing (or was not read). */
export function kernelFinding(ctx: Context, conn: Socket): KernelFinding | null {
  const k = ctx.snapshot.kernel;
  if (!k || !k.available || conn.cookie === null) return null;
  const birth = k.births.get(conn.cookie);
  if (birth) {
    return { direction: birth.direction, rule: 'kernel-birth', detail: `the kernel reported this socket's birth while tcpdir ran (${birth.transition})` };
  }
  const d = k.records.direction(conn.cookie);
  if (!d || d.direction === 'UNKNOWN' || d.rule === null || d.rule === 'handshake-state') return null;
  return { direction: d.direction, rule: `kernel-${d.rule}`, detail: DETAILS[d.rule] };
}

/** A weightless note for every verdict when the kernel source is missing, saying why. */
export function kernelAbsenceNote(ctx: Context): string | null {
  const k = ctx.snapshot.kernel;
  if (!k || k.available) return null;
  return `kernel evidence unavailable (${k.code ?? 'unknown'}): ${k.reason ?? 'no reason given'}; heuristics only`;
}
