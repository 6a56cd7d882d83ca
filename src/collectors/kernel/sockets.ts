import type { Socket } from '../../model';
import { TCP_STATES, TcpStateCode } from '../../model/tcp-state';
import { AddressTextCache, cookieText } from '../buffers/record-text';
import { PreviousRecords } from '../buffers/record-chunks';
import { AF_INET, AF_INET6, KERNEL_RECORD_SIZE, REC as O, V6ONLY_ABSENT } from './layout';
import type { KernelRecordTable } from './record-table';
import type { KernelEvidenceSource, RecordSink } from './source';

const { TIME_WAIT, LISTEN, NEW_SYN_RECV } = TcpStateCode;
// A request socket (NEW_SYN_RECV) is listed as SYN_RECV, as sock_diag and every tool list it.
const STATES = TCP_STATES.map((name) => (name === 'NEW_SYN_RECV' ? 'SYN_RECV' : name));

/** A previous pass whose unchanged sockets the next decoder hands out again (see KernelSocketDecoder). */
export interface PreviousPass {
  table: KernelRecordTable;
  /** Its sockets in record order (socket k is record k), before finish() dropped repeats. */
  recordSockets: readonly Socket[];
}

// The record bytes a Socket is made of, besides the cookie: addresses, inode and uid (24..63),
// ports (68..71), family and state (72, 73), queues (80..87), v6only (88).
const SOCKET_WORDS = [24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 68, 80, 84] as const;

function sameSocketBytes(a: DataView, ao: number, b: DataView, bo: number): boolean {
  for (const w of SOCKET_WORDS) if (a.getUint32(ao + w, true) !== b.getUint32(bo + w, true)) return false;
  return a.getUint16(ao + O.family, true) === b.getUint16(bo + O.family, true) && a.getUint8(ao + O.v6only) === b.getUint8(bo + O.v6only);
}

/**
 * A Socket decoded from an iterator record. What the iterator does not read, and what follows
 * from the rest, is on the prototype rather than in each object: the cookie is the id, the timer
 * follows from the state (3 for TIME_WAIT, else 0), retrans and expiresMs are 0, tcpInfo null.
 * 128 bytes a socket instead of 168 (a heap snapshot at 100k sockets: 16.0 MiB of Socket
 * objects, the largest part of a snapshot). Only the namespace tag is written after decoding.
 */
class KernelSocket implements Socket {
  declare readonly retrans: number;
  declare readonly expiresMs: number;
  declare readonly tcpInfo: null;
  netns: string | null = null;

  constructor(
    readonly id: string,
    readonly family: Socket['family'],
    readonly state: Socket['state'],
    readonly localAddress: string,
    readonly localPort: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly inode: number,
    readonly uid: number,
    readonly rqueue: number,
    readonly wqueue: number,
    readonly v6only: boolean | null,
  ) {}

  get cookie(): string {
    return this.id;
  }

  get timer(): number {
    return this.state === 'TIME_WAIT' ? 3 : 0;
  }
}
for (const [name, value] of [['retrans', 0], ['expiresMs', 0], ['tcpInfo', null]] as const) {
  Object.defineProperty(KernelSocket.prototype, name, { value, enumerable: true });
}

/**
 * Decodes the records of an iterator pass into Sockets, chunk by chunk as a streamed pass
 * arrives (a RecordSink for KernelEvidenceSource.scan), as sock_diag would list them: request
 * sockets as SYN_RECV with no owner, v6only for IPv6 listeners only. What the iterator does not
 * read: timers (timer is 3 for TIME_WAIT, else 0; retrans and expiresMs 0), tcp_info, and the
 * queues of connections (0; a listener's are read).
 * Chunks must already be validated (the table's append does that before the sink sees them).
 *
 * Given the previous pass, a socket whose record bytes did not change is that pass's Socket
 * object again, not a new one: on a host of long-lived connections most are, and 100k new
 * objects per refresh, each living one refresh, made the collector's full collections most of
 * the service's time. Sockets are never mutated after decoding (a namespace tag writes the
 * same value on every pass of one service), so sharing them between snapshots is safe.
 */
export class KernelSocketDecoder implements RecordSink {
  // One socket per record, in record order: socket k is record k (chunks come in order).
  private readonly sockets: Socket[] = [];
  private readonly prev: PreviousPass | null;
  private readonly previous: PreviousRecords | null;

  constructor(previous?: PreviousPass | null) {
    const p = (this.prev = previous ?? null);
    this.previous = p && new PreviousRecords(p.table.chunks, p.recordSockets.length, p.table, 0);
  }

  /** Every socket decoded so far, in record order (a PreviousPass's recordSockets). */
  get recordSockets(): readonly Socket[] {
    return this.sockets;
  }

  add(chunk: Buffer, firstIndex: number): void {
    if (firstIndex !== this.sockets.length) throw new RangeError(`chunk at record ${firstIndex}, expected ${this.sockets.length}`);
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // Addresses repeat across chunks, but a cache per chunk keeps it simple and costs little.
    const addrs = new AddressTextCache(chunk, dv);
    const prev = this.prev, previous = this.previous;
    const n = chunk.length / KERNEL_RECORD_SIZE;
    for (let j = 0, off = 0; j < n; j++, off += KERNEL_RECORD_SIZE) {
      const lo = dv.getUint32(off, true), hi = dv.getUint32(off + 4, true);
      if (previous !== null) {
        const p = previous.find(lo, hi);
        if (p >= 0 && sameSocketBytes(dv, off, previous.place.dv, previous.place.off)) {
          this.sockets.push(prev!.recordSockets[p]);
          continue;
        }
      }
      const fam = chunk[off + O.family];
      const v6 = fam === AF_INET6;
      const st = chunk[off + O.state];
      const v6b = chunk[off + O.v6only];
      const cookie = cookieText(lo, hi);
      this.sockets.push(new KernelSocket(
        cookie,
        v6 ? 'IPV6' : 'IPV4',
        STATES[st] as Socket['state'],
        v6 ? addrs.v6At(off + O.localAddress) : addrs.v4At(off + O.localAddress),
        dv.getUint16(off + O.sport, true),
        v6 ? addrs.v6At(off + O.remoteAddress) : addrs.v4At(off + O.remoteAddress),
        dv.getUint16(off + O.dport, true),
        dv.getUint32(off + O.inode, true),
        // The iterator gives a request socket its listener's uid; sock_diag gives 0 (no owner).
        st === NEW_SYN_RECV ? 0 : dv.getUint32(off + O.uid, true),
        dv.getUint32(off + O.rqueue, true),
        dv.getUint32(off + O.wqueue, true),
        // As sock_diag here (6.18): reported for IPv6 listeners, the only sockets it matters for.
        st !== LISTEN || fam === AF_INET || v6b === V6ONLY_ABSENT ? null : v6b === 1,
      ));
    }
  }

  /** The sockets, one per cookie: the last record of a cookie seen twice wins, as in the table. */
  finish(table: KernelRecordTable): Socket[] {
    if (table.size === table.length) return this.sockets;
    const buf = table.buffer;
    return this.sockets.filter((_, k) => {
      const off = k * KERNEL_RECORD_SIZE;
      return table.recordIndex(buf.readUInt32LE(off), buf.readUInt32LE(off + 4)) === k;
    });
  }
}

/** The sockets of a whole table (not streamed). Pure. */
export function socketsFromKernelTable(table: KernelRecordTable): Socket[] {
  const d = new KernelSocketDecoder();
  d.add(table.buffer, 0);
  return d.finish(table);
}

/** One pass that is both the socket list and the kernel evidence. */
export interface EbpfPass extends PreviousPass {
  sockets: Socket[];
}

/**
 * One streamed iterator pass, its sockets decoded as the chunks arrive; sockets unchanged since
 * `previous` (the same consumer's last pass) are its objects again.
 */
export async function scanSockets(source: KernelEvidenceSource, previous?: PreviousPass | null): Promise<EbpfPass> {
  const decoder = new KernelSocketDecoder(previous);
  const table = await source.scan(decoder);
  table.setRecordSockets(decoder.recordSockets);
  return { table, sockets: decoder.finish(table), recordSockets: decoder.recordSockets };
}
