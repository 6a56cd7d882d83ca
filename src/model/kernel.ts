import type { AddressFamily, Socket } from './socket';
import type { TcpStateName } from './tcp-state';
import { packKernelFacts } from './kernel-facts';

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
  /** The same cookie as a map key (see cookieKey), when the decoder has it without the text. */
  cookieKey?: CookieKey;
  /** bpf_ktime_get_ns(): CLOCK_MONOTONIC nanoseconds, as a decimal string. */
  monotonicNs: string;
  /** The same in ms, when the decoder has it without parsing the string. */
  monotonicMs?: number;
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

/** How a socket was born, from the tracepoint: the change that began its life. */
export interface KernelBirth {
  /** The change, e.g. "CLOSE->SYN_SENT". */
  transition: string;
  /** The same as transitionCode() gives (old << 4 | new). */
  code: number;
  /** Wall-clock ms when the event was ingested. */
  seenAt: number;
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

/** Written by factsAt where the evidence cannot answer by position (see KernelRecordIndex.factsAt). */
export const KERNEL_FACTS_UNANSWERED = -2;
/** Written by factsAt for a socket with no record. */
export const KERNEL_FACTS_NONE = -1;

/**
 * Iterator records by socket cookie: the kernel's facts, never what they mean (the classifier
 * decides). The service's implementation (collectors/kernel/record-table.ts) keeps the raw
 * iterator bytes and decodes a KernelRecord only when one is asked for; `facts` answers from a
 * packed key computed once per record, without decoding.
 */
export interface KernelRecordIndex {
  readonly size: number;
  has(cookie: string): boolean;
  get(cookie: string): KernelRecord | undefined;
  /** The record's facts, packed (packKernelFacts); undefined when there is none. */
  facts(cookie: string): number | undefined;
  /**
   * Optional fast path for the classifier: the facts of each of `sockets`, found at
   * `positions[i]` of the snapshot's socket list, into `facts[i]` (KERNEL_FACTS_NONE without a
   * record), and its birth's transition code into `births[i]` (0 for none); or
   * KERNEL_FACTS_UNANSWERED in `facts[i]` where this evidence cannot answer by position (then
   * the classifier looks the cookie up). One call for the whole snapshot.
   */
  factsAt?(positions: Int32Array, sockets: readonly Socket[], facts: Int32Array, births: Uint8Array): void;
  /** Every record's cookie. */
  cookies(): IterableIterator<string>;
}

/** Tracepoint births by socket cookie. */
export interface KernelBirthIndex {
  readonly size: number;
  get(cookie: string): KernelBirth | undefined;
  /** The birth's transition code (transitionCode), for the classifier's hot path; 0 for none. */
  transition(cookie: string): number;
}

/** A KernelBirthIndex over a list of births (fixtures, tests). */
export function kernelBirthIndex(births: Iterable<[string, KernelBirth]>): KernelBirthIndex {
  const m = new Map(births);
  return {
    size: m.size,
    get: (cookie) => m.get(cookie),
    transition: (cookie) => m.get(cookie)?.code ?? 0,
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
    facts: (cookie) => {
      const r = m.get(cookie);
      return r && packKernelFacts(r);
    },
    cookies: () => m.keys(),
  };
}

/**
 * A socket cookie as a map key: the number itself while it is exact (below 2^53; cookies are a
 * counter, far below), else its decimal text. A number is neither built nor hashed as a string:
 * under churn the recorder looked up three cookies per connection life.
 */
export type CookieKey = number | string;

/** The CookieKey of a decimal cookie (any other text stays as it is). */
export function cookieKey(text: string): CookieKey {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 && String(n) === text ? n : text;
}

/** The CookieKey of a cookie's two little-endian 32-bit words. */
export function cookieKeyOf(lo: number, hi: number): CookieKey {
  return hi < 0x200000 ? hi * 4294967296 + lo : ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}
