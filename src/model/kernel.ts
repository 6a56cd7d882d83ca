import type { AddressFamily, Socket } from './socket';
import type { TcpStateName } from './tcp-state';
import type { Direction } from './verdict';

/**
 * What the kernel itself remembers about how one TCP socket was made, read by the eBPF socket
 * iterator (native/kernel/tcpdir.bpf.c). None of it is exported by sock_diag or /proc.
 * See docs/kernel-evidence.md for what each field means.
 */
export interface KernelRecord {
  /** Socket cookie as a decimal string: the same value sock_diag reports, so records join by it. */
  cookie: string;
  family: AddressFamily;
  state: TcpStateName;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** 0 for TIME_WAIT, request sockets and children still in an accept queue. */
  inode: number;
  uid: number;
  /** Raw sk_userlocks (full sockets only; 0 otherwise). */
  userLocks: number;
  /** sk_userlocks & SOCK_CONNECT_BIND (16): connect() chose the local port (6.16+ kernels). */
  connectBind: boolean;
  /**
   * Bind bucket fastreuse == -1: the port was allocated by connect(). False too when the bucket
   * was not read (bucketRead false).
   */
  portAllocatedByConnect: boolean;
  /**
   * Whether the iterator read the bind bucket. It does not when connectBind or twConnectBind
   * already says connect() chose the port (the bucket is a cache miss per socket): connect()
   * never joins a bucket made by bind() or listen(), so only a listener bound to the port later,
   * next to an SO_REUSEADDR client, could share it; sharesListenerPort is false then, the
   * direction (decided by connectBind first) the same.
   */
  bucketRead: boolean;
  /** TIME_WAIT only: tw_connect_bind; null when not TIME_WAIT or the kernel lacks the field. */
  twConnectBind: boolean | null;
  /** Any of connectBind, portAllocatedByConnect, twConnectBind. */
  connectChosePort: boolean;
  /** sk_userlocks & SOCK_BINDPORT_LOCK (8): the application bound an explicit port. */
  explicitPortBind: boolean;
  /** sk_userlocks & SOCK_BINDADDR_LOCK (4): bound to a specific address. */
  explicitAddressBind: boolean;
  /** Its bind bucket is also held by a listener that was alive during the same pass. */
  sharesListenerPort: boolean;
  /** Cookie of that listener, when sharesListenerPort. */
  sharedListenerCookie: string | null;
  /** sk_max_ack_backlog of the socket (a listener's backlog; children inherit it). */
  maxAckBacklog: number;
  /** Not a listener and sk_max_ack_backlog > 0: cloned from a listener. */
  acceptBacklogInherited: boolean;
  /** Request sockets (NEW_SYN_RECV): the listener they belong to; null otherwise. */
  listenerCookie: string | null;
}

/** One TCP state change seen by the inet_sock_set_state tracepoint. */
export interface KernelEvent {
  cookie: string;
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC nanoseconds, as a decimal string. */
  monotonicNs: string;
  family: AddressFamily;
  oldState: TcpStateName;
  newState: TcpStateName;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** The task the change ran in (pid, comm): the connecting process for CLOSE->SYN_SENT. */
  pid: number;
  command: string;
  /** The socket's network namespace as an nsfs id (net:[4026531840]). */
  netns: string;
  /** At a change to CLOSE: bytes sent (and acknowledged), bytes received, retransmits; else 0. */
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
}

/** How a socket was born, from the tracepoint. */
export interface KernelBirth {
  direction: Exclude<Direction, 'UNKNOWN'>;
  /** The transition that said so, e.g. "CLOSE->SYN_SENT". */
  transition: string;
  /** Wall-clock ms when the event was ingested. */
  seenAt: number;
}

export type KernelRuleName =
  | 'handshake-state'
  | 'connect-bind'
  | 'bindport-lock'
  | 'connect-allocated-port'
  | 'shares-listener-bucket'
  | 'inherited-backlog';

/** The rules in the order they are tried; the first that matches decides. */
export const KERNEL_RULE_ORDER: readonly KernelRuleName[] = [
  'handshake-state',
  'connect-bind',
  'bindport-lock',
  'connect-allocated-port',
  'shares-listener-bucket',
  'inherited-backlog',
];

export interface KernelDirectionOptions {
  /** Rules to leave out, e.g. ones not yet validated on an older kernel. */
  skip?: readonly KernelRuleName[];
}

export interface KernelDirection {
  direction: Direction;
  /** The rule that fired; null when none did (direction UNKNOWN). */
  rule: KernelRuleName | null;
}

/** The record fields kernelDirection reads. */
export type KernelDirectionInput = Pick<
  KernelRecord,
  'state' | 'connectBind' | 'explicitPortBind' | 'portAllocatedByConnect' | 'twConnectBind' | 'sharesListenerPort' | 'acceptBacklogInherited'
>;

// Every possible answer, shared: kernelDirection runs for every record of every snapshot, and
// these are all it can return (frozen, so no caller can alter another's answer).
const NO_DIRECTION: KernelDirection = Object.freeze({ direction: 'UNKNOWN', rule: null });
const answer = (direction: 'INBOUND' | 'OUTBOUND', rule: KernelRuleName): KernelDirection => Object.freeze({ direction, rule });
const ANSWERS_IN = KERNEL_RULE_ORDER.map((r) => answer('INBOUND', r));
const ANSWERS_OUT = KERNEL_RULE_ORDER.map((r) => answer('OUTBOUND', r));

/**
 * Every value kernelDirection can return; its index is a small code (0 = no direction), so a
 * table of records can keep one byte per record instead of an object.
 */
export const KERNEL_DIRECTIONS: readonly KernelDirection[] = [NO_DIRECTION, ...ANSWERS_IN, ...ANSWERS_OUT];

/**
 * Direction from kernel evidence alone, first match wins (kernel-evidence.md, "Rules"):
 * 68 right, 0 wrong, 3 unknown on 71 test sockets on 6.18. The order matters: an SO_REUSEPORT
 * client shares a listener's bucket but has the bind-port lock, and a former listener that
 * later connected out keeps a backlog but has a connect-allocated port. Listeners and
 * unconnected sockets have no direction. The answer is one of KERNEL_DIRECTIONS (shared, frozen).
 */
export function kernelDirection(rec: KernelDirectionInput, opts: KernelDirectionOptions = {}): KernelDirection {
  const skip = opts.skip;
  if (rec.state === 'LISTEN' || rec.state === 'CLOSE') return NO_DIRECTION;
  for (let r = 0; r < KERNEL_RULE_ORDER.length; r++) {
    const rule = KERNEL_RULE_ORDER[r];
    if (skip && skip.includes(rule)) continue;
    const d = applyRule(rule, rec);
    if (d) return d === 'INBOUND' ? ANSWERS_IN[r] : ANSWERS_OUT[r];
  }
  return NO_DIRECTION;
}

function applyRule(rule: KernelRuleName, rec: KernelDirectionInput): Exclude<Direction, 'UNKNOWN'> | null {
  switch (rule) {
    case 'handshake-state':
      if (rec.state === 'NEW_SYN_RECV') return 'INBOUND';
      if (rec.state === 'SYN_SENT') return 'OUTBOUND';
      return null;
    case 'connect-bind':
      return rec.connectBind ? 'OUTBOUND' : null;
    case 'bindport-lock':
      return rec.explicitPortBind ? 'OUTBOUND' : null;
    case 'connect-allocated-port':
      return rec.portAllocatedByConnect || rec.twConnectBind === true ? 'OUTBOUND' : null;
    case 'shares-listener-bucket':
      return rec.sharesListenerPort ? 'INBOUND' : null;
    case 'inherited-backlog':
      return rec.acceptBacklogInherited ? 'INBOUND' : null;
  }
}

/**
 * Birth direction from a state change, or null when the change says nothing about it.
 * Active open: CLOSE->SYN_SENT. Passive open: LISTEN->SYN_RECV on the child, then
 * SYN_RECV->ESTABLISHED (the only one seen when the first was missed).
 */
export function birthFromTransition(oldState: TcpStateName, newState: TcpStateName): Exclude<Direction, 'UNKNOWN'> | null {
  if (newState === 'SYN_SENT') return 'OUTBOUND';
  if (oldState === 'LISTEN' && newState === 'SYN_RECV') return 'INBOUND';
  if (oldState === 'SYN_RECV' && newState === 'ESTABLISHED') return 'INBOUND';
  return null;
}

/** What the eBPF source contributed to a snapshot. */
export interface KernelEvidence {
  available: boolean;
  /** Short code of why it is unavailable (EPERM, NATIVE_UNAVAILABLE, DISABLED, ...); null when available. */
  code: string | null;
  /** Why it is unavailable, in words; null when available. */
  reason: string | null;
  /** Iterator records of this snapshot, by socket cookie (see KernelRecordIndex). */
  records: KernelRecordIndex;
  /** Tracepoint births by cookie: the snapshot's sockets born while tcpdir ran. */
  births: KernelBirthIndex;
  /** Whether the state-change tracepoint is attached (births are recorded). */
  tracepoint: boolean;
}

/** See KernelRecordIndex.codesAt. */
export const KERNEL_CODE_UNANSWERED = 2;

/**
 * Iterator records by socket cookie. The service's implementation (collectors/kernel/record-table.ts
 * KernelRecordTable) keeps the raw iterator bytes and decodes a KernelRecord only when one is
 * asked for; `direction` answers from a code computed once per record, without decoding.
 */
export interface KernelRecordIndex {
  readonly size: number;
  has(cookie: string): boolean;
  get(cookie: string): KernelRecord | undefined;
  /** kernelDirection() of the record with this cookie (one of KERNEL_DIRECTIONS); undefined when there is none. */
  direction(cookie: string): KernelDirection | undefined;
  /**
   * Optional fast path for the classifier: the kernel's word on each of `sockets` (births first,
   * as KernelEvidence.births has them), found at `positions[i]` of the snapshot's socket list,
   * written to `out[i]` as +1 inbound, -1 outbound, 0 silent, or KERNEL_CODE_UNANSWERED where
   * this evidence cannot answer by position (then the classifier looks the cookie up). One call
   * for the whole snapshot: per socket it is a few array reads.
   */
  codesAt?(positions: Int32Array, sockets: readonly Socket[], out: Int8Array): void;
  /** Every record's cookie. */
  cookies(): IterableIterator<string>;
}

/** Tracepoint births by socket cookie. */
export interface KernelBirthIndex {
  readonly size: number;
  get(cookie: string): KernelBirth | undefined;
  /** The birth's direction as a number, for the classifier's hot path: +1 inbound, -1 outbound, 0 none. */
  direction(cookie: string): number;
}

/** A KernelBirthIndex over a list of births (fixtures, tests). */
export function kernelBirthIndex(births: Iterable<[string, KernelBirth]>): KernelBirthIndex {
  const m = new Map(births);
  return {
    size: m.size,
    get: (cookie) => m.get(cookie),
    direction: (cookie) => {
      const b = m.get(cookie);
      return b === undefined ? 0 : b.direction === 'INBOUND' ? 1 : -1;
    },
  };
}

/** A KernelRecordIndex over decoded records (fixtures, tests, small inputs). Later records win. */
export function kernelRecordIndex(records: Iterable<KernelRecord>): KernelRecordIndex {
  const m = new Map<string, KernelRecord>();
  for (const r of records) m.set(r.cookie, r);
  return {
    get size() {
      return m.size;
    },
    has: (cookie) => m.has(cookie),
    get: (cookie) => m.get(cookie),
    direction: (cookie) => {
      const r = m.get(cookie);
      return r && kernelDirection(r);
    },
    cookies: () => m.keys(),
  };
}
