import type { TcpStateName } from './tcp-state';

export type AddressFamily = 'IPV4' | 'IPV6';

/** The stable part of struct tcp_info; absent fields were not sent by this kernel. */
export interface TcpInfo {
  rttUs: number;
  rttVarUs: number;
  /** tcpi_unacked: segments sent and not yet acknowledged. */
  unacked: number;
  /** Bytes of sequence space the peer acknowledged (kernel >= 4.1); counts our SYN only if we sent it from connect(). */
  bytesAcked?: number;
  bytesReceived?: number;
  segsOut?: number;
  segsIn?: number;
  /** Bytes written but not yet sent (kernel >= 4.6). */
  notsentBytes?: number;
  /** Data bytes put on the wire, retransmissions included, and of those retransmitted (kernel >= 4.19). */
  bytesSent?: number;
  bytesRetrans?: number;
}

/**
 * One TCP socket as a source reported it. Addresses are RFC 5952 text as the kernel
 * holds them: an IPv4-mapped IPv6 socket keeps family IPV6 and `::ffff:a.b.c.d`.
 */
export interface Socket {
  /** Stable for the life of the socket: the kernel cookie (netlink) or a tuple key (procfs). */
  id: string;
  /** The kernel socket cookie as a decimal string; null when the source has none (procfs). */
  cookie: string | null;
  family: AddressFamily;
  state: TcpStateName;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** 0 for TIME_WAIT, request sockets and children still in an accept queue. */
  inode: number;
  uid: number;
  /** Kernel timer: 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe. */
  timer: number;
  retrans: number;
  expiresMs: number;
  /** LISTEN: accept-queue length; otherwise unread bytes (0 from the eBPF source, which reads
   * listeners' queues only: nothing uses a connection's, and reading them slowed every pass). */
  rqueue: number;
  /** LISTEN: accept backlog; otherwise unacknowledged bytes (0 from the eBPF source, as rqueue). */
  wqueue: number;
  /** IPv6 listeners only: INET_DIAG_SKV6ONLY; null when not reported. */
  v6only: boolean | null;
  tcpInfo: TcpInfo | null;
  /**
   * The network namespace the socket lives in (nsfs id, e.g. "net:[4026531840]") when the
   * snapshot spans several; null in a single-namespace snapshot (the collector's own).
   */
  netns: string | null;
}
