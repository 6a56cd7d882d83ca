import { AddressTextCache, cookieText } from './buffers/record-text';
import type { Socket, TcpInfo } from '../model/socket';
import { CookieIndex } from './buffers/cookie-index';
import { PreviousRecords, RecordChunks } from './buffers/record-chunks';
import { TCP_STATES, type TcpStateName } from '../model/tcp-state';
import { loadSockDiag, type SockDiagBinding, type SockDiagDumpOptions } from './native';

/**
 * Packed record written by native/sockdiag (see record.h for the authoritative table).
 * Little-endian integers; addresses in network order, IPv4 in the first 4 bytes.
 */
export const RECORD_SIZE = 128;
export const LAYOUT_VERSION = 2;
const O = {
  family: 0, state: 1, timer: 2, retrans: 3, v6only: 4, flags: 5, sport: 6, dport: 8,
  src: 12, dst: 28, inode: 44, uid: 48, expires: 52, rqueue: 56, wqueue: 60, cookie: 64,
  rtt: 72, rttvar: 76, bytesAcked: 80, bytesReceived: 88, segsOut: 96, segsIn: 100,
  bytesSent: 104, bytesRetrans: 112, unacked: 120, notsentBytes: 124,
} as const;
const INFO_BASE = 0x01, INFO_BYTES = 0x02, INFO_SEGS = 0x04, INFO_NOTSENT = 0x08, INFO_SENT = 0x10, INFO_ALL = 0x1f;
const V6ONLY_ABSENT = 255;
const AF_INET = 2, AF_INET6 = 10;
const TWO32 = 4294967296;

/** The buffer is not a whole number of valid records. */
export class SockDiagDecodeError extends Error {
  readonly code = 'SOCKDIAG_DECODE';
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = 'SockDiagDecodeError';
  }
}

/** The kernel dump failed; `code`/`errno`/`syscall` come from the addon ('EPERM', -1, 'sock_diag'). */
export class SockDiagError extends Error {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  constructor(cause: unknown) {
    const e = cause as { message?: unknown; code?: unknown; errno?: unknown; syscall?: unknown } | null;
    super(typeof e?.message === 'string' ? e.message : `sock_diag dump failed: ${String(cause)}`, { cause });
    this.name = 'SockDiagError';
    this.code = typeof e?.code === 'string' ? e.code : 'SOCKDIAG_FAILED';
    this.errno = typeof e?.errno === 'number' ? e.errno : undefined;
    this.syscall = typeof e?.syscall === 'string' ? e.syscall : undefined;
  }
}

/** Up to 2^53 exactly; larger counters (> 9 PB, or > 2^53 cookies) lose low bits as Numbers. */
function u64(dv: DataView, off: number): number {
  return dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true);
}

/**
 * Decodes the addon's packed records into model Sockets. Pure; throws only SockDiagDecodeError.
 * De-duplication by cookie already happened in C++ (native/sockdiag/dump.cc).
 */
export function decodeSockDiag(buf: Buffer): Socket[] {
  const d = new SockDiagDecoder();
  d.add(buf);
  return d.sockets;
}

/** A decoded dump kept for the next one (see SockDiagDecoder): its records and their sockets. */
export interface SockDiagPass {
  /** The record batches, in order. */
  records: RecordChunks;
  /** Socket k is record k. */
  sockets: Socket[];
  /** Cookie words -> record index. */
  index: CookieIndex;
}

/** Holds a consumer's last dump, so that its next dump reuses what did not change. */
export class SockDiagReuse {
  previous: SockDiagPass | null = null;
}

// The record bytes a Socket is made of: everything up to the cookie's end (timers and queues
// included, so a socket whose timer moved is a new object), then tcp_info when present.
const SOCKET_BYTES = 72;

/**
 * Decodes batches of records as a dump streams in. Given the consumer's previous pass, a socket
 * whose record bytes did not change is that pass's Socket object again, not a new one: on a host
 * of long-lived connections most are, and 100k new objects (with their cookie strings) per
 * refresh, each living one refresh, were most of the garbage the service made without kernel
 * evidence. Sockets are never mutated after decoding, so sharing them between snapshots is safe.
 */
export class SockDiagDecoder {
  readonly sockets: Socket[] = [];
  private readonly records: RecordChunks | null;
  private readonly index: CookieIndex | null;
  private readonly previous: PreviousRecords | null;

  /** With `keep`, the decoder indexes its records for a next pass (finish()). */
  constructor(private readonly prev: SockDiagPass | null = null, keep = false) {
    this.records = keep ? new RecordChunks(RECORD_SIZE) : null;
    this.index = keep ? new CookieIndex(prev ? prev.sockets.length + (prev.sockets.length >> 3) : 0) : null;
    this.previous = prev && new PreviousRecords(prev.records, prev.sockets.length, prev.index, O.cookie);
  }

  add(buf: Buffer): void {
    if (buf.length % RECORD_SIZE !== 0) {
      throw new SockDiagDecodeError(
        `sock_diag buffer of ${buf.length} bytes is not a multiple of the ${RECORD_SIZE}-byte record (truncated?)`,
        buf.length - (buf.length % RECORD_SIZE),
      );
    }
    const n = buf.length / RECORD_SIZE;
    if (n === 0) return;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const addrs = new AddressTextCache(buf, dv);
    const out = this.sockets;
    const base = out.length;
    for (let i = 0, off = 0; i < n; i++, off += RECORD_SIZE) {
      const fam = buf[off + O.family];
      if (fam !== AF_INET && fam !== AF_INET6) throw new SockDiagDecodeError(`record ${i}: unknown address family ${fam}`, off);
      const st = buf[off + O.state];
      const state = TCP_STATES[st] as TcpStateName | '' | undefined;
      if (!state) throw new SockDiagDecodeError(`record ${i}: unknown TCP state ${st}`, off);
      const v6b = buf[off + O.v6only];
      if (v6b > 1 && v6b !== V6ONLY_ABSENT) throw new SockDiagDecodeError(`record ${i}: bad v6only byte ${v6b}`, off);
      const flags = buf[off + O.flags];
      if ((flags & ~INFO_ALL) !== 0 || (flags !== 0 && (flags & INFO_BASE) === 0)) {
        throw new SockDiagDecodeError(`record ${i}: bad tcp_info flags 0x${flags.toString(16)}`, off);
      }
      const lo = dv.getUint32(off + O.cookie, true), hi = dv.getUint32(off + O.cookie + 4, true);
      this.index?.set(lo, hi, base + i);
      const again = this.previous === null ? null : this.unchanged(dv, off, lo, hi, flags !== 0 ? RECORD_SIZE : SOCKET_BYTES);
      out.push(again ?? decodeOne(buf, dv, off, addrs, fam, state, v6b, flags, cookieText(lo, hi)));
    }
    this.records?.push(buf, dv);
  }

  /** The previous pass's socket for this record when its first `bytes` are the same, else null. */
  private unchanged(dv: DataView, off: number, lo: number, hi: number, bytes: number): Socket | null {
    const previous = this.previous!;
    const p = previous.find(lo, hi);
    if (p < 0) return null;
    const { dv: pdv, off: po } = previous.place;
    for (let w = 0; w < bytes; w += 4) if (dv.getUint32(off + w, true) !== pdv.getUint32(po + w, true)) return null;
    return this.prev!.sockets[p];
  }

  /** The pass, for the next decoder (only when constructed with `keep`). */
  finish(): SockDiagPass | null {
    return this.records && this.index ? { records: this.records, sockets: this.sockets, index: this.index } : null;
  }
}

function decodeOne(
  buf: Buffer, dv: DataView, off: number, addrs: AddressTextCache, fam: number, state: TcpStateName, v6b: number, flags: number, cookie: string,
): Socket {
  let tcpInfo: TcpInfo | null = null;
  if (flags === INFO_ALL) {
    tcpInfo = {
      rttUs: dv.getUint32(off + O.rtt, true),
      rttVarUs: dv.getUint32(off + O.rttvar, true),
      unacked: dv.getUint32(off + O.unacked, true),
      bytesAcked: u64(dv, off + O.bytesAcked),
      bytesReceived: u64(dv, off + O.bytesReceived),
      segsOut: dv.getUint32(off + O.segsOut, true),
      segsIn: dv.getUint32(off + O.segsIn, true),
      notsentBytes: dv.getUint32(off + O.notsentBytes, true),
      bytesSent: u64(dv, off + O.bytesSent),
      bytesRetrans: u64(dv, off + O.bytesRetrans),
    };
  } else if (flags !== 0) {
    // Older kernel with a shorter tcp_info: only what it sent (a field it did not send is absent, not 0).
    tcpInfo = { rttUs: dv.getUint32(off + O.rtt, true), rttVarUs: dv.getUint32(off + O.rttvar, true), unacked: dv.getUint32(off + O.unacked, true) };
    if (flags & INFO_BYTES) {
      tcpInfo.bytesAcked = u64(dv, off + O.bytesAcked);
      tcpInfo.bytesReceived = u64(dv, off + O.bytesReceived);
    }
    if (flags & INFO_SEGS) {
      tcpInfo.segsOut = dv.getUint32(off + O.segsOut, true);
      tcpInfo.segsIn = dv.getUint32(off + O.segsIn, true);
    }
    if (flags & INFO_NOTSENT) tcpInfo.notsentBytes = dv.getUint32(off + O.notsentBytes, true);
    if (flags & INFO_SENT) {
      tcpInfo.bytesSent = u64(dv, off + O.bytesSent);
      tcpInfo.bytesRetrans = u64(dv, off + O.bytesRetrans);
    }
  }
  const v4 = fam === AF_INET;
  return {
    id: cookie,
    cookie,
    family: v4 ? 'IPV4' : 'IPV6',
    state,
    localAddress: v4 ? addrs.v4At(off + O.src) : addrs.v6At(off + O.src),
    localPort: dv.getUint16(off + O.sport, true),
    remoteAddress: v4 ? addrs.v4At(off + O.dst) : addrs.v6At(off + O.dst),
    remotePort: dv.getUint16(off + O.dport, true),
    inode: dv.getUint32(off + O.inode, true),
    uid: dv.getUint32(off + O.uid, true),
    timer: buf[off + O.timer],
    retrans: buf[off + O.retrans],
    expiresMs: dv.getUint32(off + O.expires, true),
    rqueue: dv.getUint32(off + O.rqueue, true),
    wqueue: dv.getUint32(off + O.wqueue, true),
    v6only: v6b === V6ONLY_ABSENT ? null : v6b === 1,
    tcpInfo,
    netns: null,
  };
}

export interface SockDiagRead {
  sockets: Socket[];
  /** The kernel flagged the dump as inconsistent even after one retry. */
  interrupted: boolean;
}

/**
 * One netlink dump of every TCP socket (IPv4 + IPv6, all states) in this process's netns.
 * Socket.tcpInfo is null unless `options.tcpInfo` asks for it.
 */
export async function readSockDiagDump(
  options: SockDiagDumpOptions = {},
  binding: SockDiagBinding = loadSockDiag(),
  reuse?: SockDiagReuse,
): Promise<SockDiagRead> {
  if (binding.RECORD_SIZE !== RECORD_SIZE || binding.LAYOUT_VERSION !== LAYOUT_VERSION) {
    throw new Error(
      `tcpdir_sockdiag record layout v${binding.LAYOUT_VERSION}/${binding.RECORD_SIZE} B does not match the ` +
        `decoder's v${LAYOUT_VERSION}/${RECORD_SIZE} B: rebuild the addon`,
    );
  }
  if (options.bytecode !== undefined && (!Buffer.isBuffer(options.bytecode) || options.bytecode.length % 4 !== 0)) {
    throw new RangeError('readSockDiag: bytecode must be a Buffer whose length is a multiple of 4');
  }
  if (options.tcpInfo !== undefined && typeof options.tcpInfo !== 'boolean') throw new TypeError('readSockDiag: tcpInfo must be a boolean');
  // Batches are decoded as they arrive, while the kernel is still walking its table.
  const decoder = new SockDiagDecoder(reuse?.previous ?? null, reuse !== undefined);
  let failure: unknown = null;
  const onChunk = (records: Buffer): void => {
    if (failure !== null) return;
    try {
      decoder.add(records);
    } catch (e) {
      failure = e; // thrown below: a throw inside the addon's callback would be uncaught
    }
  };
  let res;
  try {
    // One walk for both families unless told otherwise: half the kernel work of two walks.
    res = await binding.dump({ ...options, bothFamilies: options.bothFamilies ?? true, tcpInfo: options.tcpInfo === true, onChunk });
  } catch (err) {
    throw new SockDiagError(err);
  }
  onChunk(res.records);
  if (failure !== null) throw failure;
  if (res.interrupted) {
    // The kernel flagged the walk as inconsistent (inet_diag does not today). Batches cannot be
    // taken back, so dump again whole: the addon retries that once more on its own.
    let again;
    try {
      again = await binding.dump({ ...options, bothFamilies: options.bothFamilies ?? true, tcpInfo: options.tcpInfo === true });
    } catch (err) {
      throw new SockDiagError(err);
    }
    const whole = new SockDiagDecoder(reuse?.previous ?? null, reuse !== undefined);
    whole.add(again.records);
    if (reuse) reuse.previous = whole.finish();
    return { sockets: whole.sockets, interrupted: again.interrupted };
  }
  if (reuse) reuse.previous = decoder.finish();
  return { sockets: decoder.sockets, interrupted: false };
}

export async function readSockDiag(options?: SockDiagDumpOptions, binding?: SockDiagBinding, reuse?: SockDiagReuse): Promise<Socket[]> {
  return (await readSockDiagDump(options, binding, reuse)).sockets;
}
