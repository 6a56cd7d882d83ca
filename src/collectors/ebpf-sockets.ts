import type { Socket } from '../model';
import { AddressTextCache } from './address-text';
import { cookieAt, KERNEL_RECORD_SIZE, KernelRecordTable } from './kernel-evidence';

// Offsets of struct tcpdir_sock_rec (native/kernel/tcpdir_records.h) that a Socket needs.
const O = { inode: 56, uid: 60, sport: 68, dport: 70, family: 72, state: 73, rqueue: 80, wqueue: 84, v6only: 88 } as const;
const AF_INET = 2, AF_INET6 = 10;
const TIME_WAIT = 6, LISTEN = 10, NEW_SYN_RECV = 12;
const V6ONLY_ABSENT = 255;
const STATES = [
  '', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE',
  'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING',
  // A request socket: sock_diag reports it as SYN_RECV, and so does every tool; so do we.
  'SYN_RECV',
] as const;

/**
 * The sockets of an iterator pass, as sock_diag would list them: one per cookie (a record seen
 * twice in a pass, or in two passes, counts once: the later wins, as in the table), request
 * sockets as SYN_RECV with no owner, v6only for IPv6 listeners only. What the iterator does
 * not read: timers (timer is 3 for TIME_WAIT, else 0; retrans and expiresMs 0) and tcp_info.
 * Throws KernelDecodeError (from the table) on malformed records; pure.
 */
export function socketsFromKernelTable(table: KernelRecordTable): Socket[] {
  const buf = table.buffer;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = buf.length / KERNEL_RECORD_SIZE;
  const out: Socket[] = [];
  const addrs = new AddressTextCache(buf, dv);
  const repeats = table.size !== n; // some cookie occurs twice: keep only its last record
  for (let i = 0, off = 0; i < n; i++, off += KERNEL_RECORD_SIZE) {
    if (repeats && table.recordIndex(dv.getUint32(off, true), dv.getUint32(off + 4, true)) !== i) continue;
    const fam = buf[off + O.family];
    const v6 = fam === AF_INET6;
    const family = v6 ? 'IPV6' : 'IPV4'; // the table validated the family byte
    const st = buf[off + O.state];
    const request = st === NEW_SYN_RECV;
    const v6b = buf[off + O.v6only];
    const cookie = cookieAt(buf, off);
    out.push({
      id: cookie,
      cookie,
      family,
      state: STATES[st] as Socket['state'],
      localAddress: v6 ? addrs.v6At(off + 24) : addrs.v4At(off + 24),
      localPort: dv.getUint16(off + O.sport, true),
      remoteAddress: v6 ? addrs.v6At(off + 40) : addrs.v4At(off + 40),
      remotePort: dv.getUint16(off + O.dport, true),
      inode: dv.getUint32(off + O.inode, true),
      // The iterator gives a request socket its listener's uid; sock_diag gives 0 (no owner).
      uid: request ? 0 : dv.getUint32(off + O.uid, true),
      timer: st === TIME_WAIT ? 3 : 0,
      retrans: 0,
      expiresMs: 0,
      rqueue: dv.getUint32(off + O.rqueue, true),
      wqueue: dv.getUint32(off + O.wqueue, true),
      // As sock_diag here (6.18): reported for IPv6 listeners, the only sockets it matters for.
      v6only: st !== LISTEN || fam === AF_INET || v6b === V6ONLY_ABSENT ? null : v6b === 1,
      tcpInfo: null,
      netns: null,
    });
  }
  return out;
}
