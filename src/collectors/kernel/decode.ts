import { AddressTextCache, cookieText } from '../buffers/record-text';
import { cookieKeyOf, type CookieKey, type KernelEvent, type KernelRecord } from '../../model/kernel';
import type { AddressFamily } from '../../model/socket';
import { TCP_STATES, type TcpStateName } from '../../model/tcp-state';
import {
  AF_INET, AF_INET6, EVT, F_BUCKET_NOT_READ, F_SHARES_LISTENER, F_TW_CB_KNOWN, F_TW_CONNECT_BIND, KERNEL_EVENT_SIZE,
  KERNEL_LAYOUT_VERSION, KERNEL_RECORD_SIZE, REC, SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK, SOCK_CONNECT_BIND,
} from './layout';

// Pure decoders of the addon's buffers: bytes in, model objects out.

/** A buffer from the kernel addon does not hold whole, well-formed records. */
export class KernelDecodeError extends Error {
  readonly code = 'KERNEL_DECODE';
  constructor(message: string) {
    super(message);
    this.name = 'KernelDecodeError';
  }
}

export function family(code: number, what: string, off: number): AddressFamily {
  if (code === AF_INET) return 'IPV4';
  if (code === AF_INET6) return 'IPV6';
  throw new KernelDecodeError(`${what} at byte ${off}: unknown address family ${code}`);
}

export function state(code: number, what: string, off: number): TcpStateName {
  const name = TCP_STATES[code];
  if (!name) throw new KernelDecodeError(`${what} at byte ${off}: unknown TCP state ${code}`);
  return name;
}

/** The cookie at `off` of a record as decimal text (see cookieText). */
export function cookieAt(buf: Buffer, off: number): string {
  return cookieText(buf.readUInt32LE(off), buf.readUInt32LE(off + 4));
}

/** Address text of records in one buffer (see AddressTextCache), by family name. */
export class AddressCache {
  private cache: AddressTextCache | null = null;
  private buf: Buffer | null = null;
  get(fam: AddressFamily, buf: Buffer, off: number): string {
    if (buf !== this.buf) (this.buf = buf), (this.cache = new AddressTextCache(buf));
    return fam === 'IPV4' ? this.cache!.v4At(off) : this.cache!.v6At(off);
  }
}

export function checkLength(buf: Buffer, size: number, what: string): void {
  if (buf.length % size !== 0) {
    throw new KernelDecodeError(
      `${what} buffer of ${buf.length} bytes is not a whole number of ${size}-byte records (truncated?)`,
    );
  }
}

export function checkVersion(v: number, what: string, off: number): void {
  if (v !== KERNEL_LAYOUT_VERSION) {
    throw new KernelDecodeError(`${what} at byte ${off}: layout version ${v}, expected ${KERNEL_LAYOUT_VERSION}`);
  }
}

/** Decodes the record at `off` (already validated by checkRecord). */
export function decodeRecordAt(buf: Buffer, off: number, addrs: AddressCache): KernelRecord {
  const fam = family(buf[off + REC.family], 'kernel socket record', off);
  const st = state(buf[off + REC.state], 'kernel socket record', off);
  const userLocks = buf[off + REC.userLocks];
  const flags = buf[off + REC.flags];
  const hasListener = buf.readUInt32LE(off + REC.listenerCookie) !== 0 || buf.readUInt32LE(off + REC.listenerCookie + 4) !== 0;
  const hasBucketListener = buf.readUInt32LE(off + REC.bucketListenerCookie) !== 0 || buf.readUInt32LE(off + REC.bucketListenerCookie + 4) !== 0;
  const maxAckBacklog = buf.readUInt32LE(off + REC.maxAckBacklog);
  const connectBind = (userLocks & SOCK_CONNECT_BIND) !== 0;
  const portAllocatedByConnect = buf.readInt8(off + REC.fastreuse) === -1;
  const twConnectBind = st === 'TIME_WAIT' && (flags & F_TW_CB_KNOWN) !== 0 ? (flags & F_TW_CONNECT_BIND) !== 0 : null;
  const shares = (flags & F_SHARES_LISTENER) !== 0;
  return {
    cookie: cookieAt(buf, off),
    family: fam,
    state: st,
    localAddress: addrs.get(fam, buf, off + REC.localAddress),
    localPort: buf.readUInt16LE(off + REC.sport),
    remoteAddress: addrs.get(fam, buf, off + REC.remoteAddress),
    remotePort: buf.readUInt16LE(off + REC.dport),
    inode: buf.readUInt32LE(off + REC.inode),
    uid: buf.readUInt32LE(off + REC.uid),
    userLocks,
    connectBind,
    portAllocatedByConnect,
    bucketRead: (flags & F_BUCKET_NOT_READ) === 0,
    twConnectBind,
    connectChosePort: connectBind || portAllocatedByConnect || twConnectBind === true,
    explicitPortBind: (userLocks & SOCK_BINDPORT_LOCK) !== 0,
    explicitAddressBind: (userLocks & SOCK_BINDADDR_LOCK) !== 0,
    sharesListenerPort: shares,
    sharedListenerCookie: shares && hasBucketListener ? cookieAt(buf, off + REC.bucketListenerCookie) : null,
    maxAckBacklog,
    acceptBacklogInherited: st !== 'LISTEN' && maxAckBacklog > 0,
    listenerCookie: hasListener ? cookieAt(buf, off + REC.listenerCookie) : null,
  };
}

/** Decodes one iterator pass (struct tcpdir_sock_rec[]). Pure. */
export function decodeKernelRecords(buf: Buffer): KernelRecord[] {
  checkLength(buf, KERNEL_RECORD_SIZE, 'kernel socket record');
  const out = new Array<KernelRecord>(buf.length / KERNEL_RECORD_SIZE);
  const addrs = new AddressCache();
  for (let i = 0, off = 0; off < buf.length; i++, off += KERNEL_RECORD_SIZE) {
    checkVersion(buf[off + REC.version], 'kernel socket record', off);
    out[i] = decodeRecordAt(buf, off, addrs);
  }
  return out;
}

/** Decodes drained tracepoint events (struct tcpdir_event[]). Pure. */
export function decodeKernelEvents(buf: Buffer): KernelEvent[] {
  checkLength(buf, KERNEL_EVENT_SIZE, 'kernel state-change event');
  const out = new Array<KernelEvent>(buf.length / KERNEL_EVENT_SIZE);
  const addrs = new AddressCache();
  for (let i = 0, off = 0; off < buf.length; i++, off += KERNEL_EVENT_SIZE) {
    checkVersion(buf[off + EVT.version], 'kernel state-change event', off);
    const fam = family(buf[off + EVT.family], 'kernel state-change event', off);
    out[i] = {
      cookie: cookieAt(buf, off),
      monotonicNs: buf.readBigUInt64LE(off + EVT.tsNs).toString(),
      family: fam,
      oldState: state(buf[off + EVT.oldState], 'kernel state-change event', off),
      newState: state(buf[off + EVT.newState], 'kernel state-change event', off),
      localAddress: addrs.get(fam, buf, off + EVT.localAddress),
      localPort: buf.readUInt16LE(off + EVT.sport),
      remoteAddress: addrs.get(fam, buf, off + EVT.remoteAddress),
      remotePort: buf.readUInt16LE(off + EVT.dport),
      pid: buf.readUInt32LE(off + EVT.pid),
      command: commAt(buf, off + EVT.comm),
      netns: netnsText(buf.readUInt32LE(off + EVT.netns)),
      bytesSent: u64At(buf, off + EVT.bytesAcked),
      bytesReceived: u64At(buf, off + EVT.bytesReceived),
      retransmits: buf.readUInt32LE(off + EVT.totalRetrans),
    };
  }
  return out;
}

/**
 * Drained tracepoint events read in place, for a consumer that reads each event once as it
 * iterates (the history recorder): one object is re-pointed at each event in turn, so it must
 * not be kept, only copied from. Under churn (six events per loopback connection) a decoded
 * object per event, its BigInt time and its comm string were a good part of the recorder's
 * garbage. Only what the recorder reads of every event is read as the cursor moves (states,
 * ports, time, the cookie as a number: cookieKey); the rest (addresses, comm, pid, namespace,
 * the counters of a close, the cookie's text) when asked for. Checks each event as
 * decodeKernelEvents does (KernelDecodeError) as it is reached.
 */
export function kernelEventsIn(buf: Buffer): Iterable<KernelEvent> {
  checkLength(buf, KERNEL_EVENT_SIZE, 'kernel state-change event');
  return { [Symbol.iterator]: () => new EventCursor(buf) };
}

class EventCursor implements Iterator<KernelEvent>, KernelEvent {
  cookieKey: CookieKey = 0;
  monotonicMs = 0;
  family: AddressFamily = 'IPV4';
  oldState: TcpStateName = 'CLOSE';
  newState: TcpStateName = 'CLOSE';
  localPort = 0;
  remotePort = 0;
  private off = -KERNEL_EVENT_SIZE;
  private readonly dv: DataView;
  private readonly addrs = new AddressCache();
  private readonly step: IteratorResult<KernelEvent> = { value: this, done: false };
  /** The last namespace id read and its text (events of one batch mostly share it). */
  private nsId = -1;
  private nsText = '';
  private readonly lastComm = new Uint8Array(16);
  private commText: string | null = null;

  constructor(private readonly buf: Buffer) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get cookie(): string { return cookieAt(this.buf, this.off); }
  get monotonicNs(): string { return this.buf.readBigUInt64LE(this.off + EVT.tsNs).toString(); }
  get localAddress(): string { return this.addrs.get(this.family, this.buf, this.off + EVT.localAddress); }
  get remoteAddress(): string { return this.addrs.get(this.family, this.buf, this.off + EVT.remoteAddress); }
  get command(): string {
    // The same few programs make most connections: the last comm's text, while its bytes match.
    const buf = this.buf, at = this.off + EVT.comm, last = this.lastComm;
    let same = this.commText !== null;
    for (let i = 0; same && i < 16; i++) same = buf[at + i] === last[i];
    if (!same) {
      buf.copy(last, 0, at, at + 16);
      this.commText = commAt(buf, at);
    }
    return this.commText!;
  }
  get pid(): number { return this.dv.getUint32(this.off + EVT.pid, true); }
  get netns(): string {
    const id = this.dv.getUint32(this.off + EVT.netns, true);
    if (id !== this.nsId) (this.nsId = id), (this.nsText = netnsText(id));
    return this.nsText;
  }
  get bytesSent(): number { return u64In(this.dv, this.off + EVT.bytesAcked); }
  get bytesReceived(): number { return u64In(this.dv, this.off + EVT.bytesReceived); }
  get retransmits(): number { return this.dv.getUint32(this.off + EVT.totalRetrans, true); }

  next(): IteratorResult<KernelEvent> {
    const buf = this.buf, dv = this.dv;
    const off = (this.off += KERNEL_EVENT_SIZE);
    if (off >= buf.length) return { value: undefined, done: true };
    checkVersion(buf[off + EVT.version], 'kernel state-change event', off);
    this.family = family(buf[off + EVT.family], 'kernel state-change event', off);
    this.oldState = state(buf[off + EVT.oldState], 'kernel state-change event', off);
    this.newState = state(buf[off + EVT.newState], 'kernel state-change event', off);
    const lo = dv.getUint32(off, true), hi = dv.getUint32(off + 4, true);
    this.cookieKey = hi < 0x200000 ? hi * 4294967296 + lo : cookieKeyOf(lo, hi);
    // CLOCK_MONOTONIC ns as ms without a BigInt: exact to well under a microsecond.
    this.monotonicMs = dv.getUint32(off + EVT.tsNs + 4, true) * 4294.967296 + dv.getUint32(off + EVT.tsNs, true) / 1e6;
    this.localPort = dv.getUint16(off + EVT.sport, true);
    this.remotePort = dv.getUint16(off + EVT.dport, true);
    return this.step;
  }
}

/** A u64 counter as a number (exact below 2^53, 8 PiB): two 32-bit reads, no BigInt. */
function u64In(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 4294967296;
}

/** A task's comm: up to 16 bytes, NUL-terminated unless it fills them. */
function commAt(buf: Buffer, off: number): string {
  let end = off;
  while (end < off + 16 && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

// Namespace ids repeat across events: one string each.
const NETNS_TEXT = new Map<number, string>();
function netnsText(inode: number): string {
  let t = NETNS_TEXT.get(inode);
  if (t === undefined) {
    t = `net:[${inode}]`;
    if (NETNS_TEXT.size < 65_536) NETNS_TEXT.set(inode, t);
  }
  return t;
}

/** A u64 counter as a number (exact below 2^53, 8 PiB): two 32-bit reads, no BigInt. */
function u64At(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 4294967296;
}
