import type { Socket, TcpInfo } from '../../model';
import type { Rule } from '../rule';

// tcpi_bytes_acked counts every sequence number the peer acknowledged, and the SYN is one. The
// side that called connect() acknowledges its SYN through tcp_ack() in SYN_SENT, which moves
// snd_una over it and adds 1 to bytes_acked (tcp_snd_una_update); an accepted child starts in
// tcp_create_openreq_child with snd_una = ISN + 1 and bytes_acked 0, its SYN-ACK never counted.
// Data adds the same to both counters: bytes_sent - bytes_retrans is each data byte sent once.
// So with nothing in flight, acked - (sent - retrans) is 1 on the opener and 0 on the child,
// plus 1 once our own FIN is acked (FIN_WAIT2). Measured on 6.18 with real sockets: clients,
// TCP Fast Open clients (SYN data acked) and their children, idle ones, half-closed ones.
// Simultaneous open counts 1 on both ends, and both did call connect(). Not conclusive: a
// connection restored by CRIU (TCP_REPAIR) starts both counters at 0 and reads as a child.
// Integers: classify() keeps the score in an Int8Array column.
export const SYN_ACKED_OUT_WEIGHT = 6;
export const SYN_ACKED_IN_WEIGHT = 4;

/** 1 when this side's SYN was acked (it connected), 0 when not (accepted), -1 when the rule cannot tell. */
export function synAcked(conn: Socket): number {
  const t: TcpInfo | null = conn.tcpInfo;
  if (!t || t.bytesAcked === undefined || t.bytesSent === undefined || t.bytesRetrans === undefined) return -1;
  // In flight or queued (a FIN too: write_seq counts it) would make the difference anything.
  if (conn.wqueue !== 0 || t.unacked !== 0 || (t.notsentBytes ?? 0) !== 0) return -1;
  let fin: number;
  if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE_WAIT') fin = 0;
  else if (conn.state === 'FIN_WAIT2') fin = 1; // our FIN sent and acked
  else return -1; // FIN_WAIT1, CLOSING, LAST_ACK have a FIN in flight; TIME_WAIT has no tcp_info
  const d = t.bytesAcked - (t.bytesSent - t.bytesRetrans) - fin;
  return d === 1 ? 1 : d === 0 ? 0 : -1;
}

export const synAckedRule: Rule = {
  name: 'syn-acked',
  favors: 'EITHER',
  weight: SYN_ACKED_OUT_WEIGHT,
  why:
    `With nothing in flight, tcp_info's bytes_acked exceeds the data bytes sent (bytes_sent - bytes_retrans) by 1 only on the side whose SYN was acked, the one that called connect(); an accepted child's SYN-ACK is not counted (plus 1 for our acked FIN in FIN_WAIT2). ` +
    `Needs tcp_info (kernel >= 4.19, netlink source). Outbound ${SYN_ACKED_OUT_WEIGHT}, inbound ${SYN_ACKED_IN_WEIGHT}: a connection restored by CRIU (TCP_REPAIR) counts no SYN and reads as accepted. Silent with data or a FIN unacknowledged or unsent.`,
  score(conn) {
    const s = synAcked(conn);
    return s === 1 ? -SYN_ACKED_OUT_WEIGHT : s === 0 ? SYN_ACKED_IN_WEIGHT : 0;
  },
  detail(conn) {
    const t = conn.tcpInfo!;
    const sent = t.bytesSent! - t.bytesRetrans!;
    const fin = conn.state === 'FIN_WAIT2' ? ' and our FIN' : '';
    return synAcked(conn) === 1
      ? `the peer acknowledged ${t.bytesAcked} bytes for ${sent} bytes of data${fin}: the extra one is this side's SYN, so this side connected`
      : `the peer acknowledged ${t.bytesAcked} bytes for ${sent} bytes of data${fin}: no SYN counted, so this side was accepted from a listener`;
  },
};
