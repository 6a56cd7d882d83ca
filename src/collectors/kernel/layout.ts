// Layouts of native/kernel/tcpdir_records.h (struct tcpdir_sock_rec / tcpdir_event /
// tcpdir_owner_rec): the one place their sizes, offsets and flag bits are written in TypeScript.
export const KERNEL_RECORD_SIZE = 96;
export const KERNEL_EVENT_SIZE = 104;
export const KERNEL_OWNER_SIZE = 32;
export const KERNEL_LAYOUT_VERSION = 3;

/** Byte offsets in struct tcpdir_sock_rec. */
export const REC = {
  cookie: 0, listenerCookie: 8, bucketListenerCookie: 16, localAddress: 24, remoteAddress: 40,
  inode: 56, uid: 60, maxAckBacklog: 64, sport: 68, dport: 70, family: 72, state: 73,
  userLocks: 74, flags: 75, fastreuse: 76, version: 79, rqueue: 80, wqueue: 84, v6only: 88,
} as const;

/** Byte offsets in struct tcpdir_event. */
export const EVT = {
  cookie: 0, tsNs: 8, localAddress: 16, remoteAddress: 32, sport: 48, dport: 50, family: 52,
  oldState: 53, newState: 54, version: 55, pid: 56, netns: 60, bytesAcked: 64, bytesReceived: 72,
  totalRetrans: 80, comm: 88,
} as const;

/** Byte offsets in struct tcpdir_owner_rec. */
export const OWN = { tgid: 0, fd: 4, inode: 8, comm: 16 } as const;

// sk_userlocks bits.
export const SOCK_BINDADDR_LOCK = 4;
export const SOCK_BINDPORT_LOCK = 8;
export const SOCK_CONNECT_BIND = 16;
// tcpdir_sock_rec.flags bits.
export const F_SHARES_LISTENER = 0x02;
export const F_TW_CONNECT_BIND = 0x04;
export const F_TW_CB_KNOWN = 0x08;
export const F_BUCKET_NOT_READ = 0x20;
export const AF_INET = 2;
export const AF_INET6 = 10;
/** tcpdir_sock_rec.v6only when the socket is not IPv6. */
export const V6ONLY_ABSENT = 255;
