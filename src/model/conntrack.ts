import type { AddressFamily } from './socket';

// Netfilter's connection tracker as tcpdir reads it (ctnetlink): facts only. What an entry means
// for a socket's direction is the classifier's (classifier/conntrack-join.ts, rules/conntrack.ts).

/** conntrack's own TCP states (nf_conntrack_tcp.h), by their number. */
export const CONNTRACK_TCP_STATES = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2',
] as const;
export type ConntrackTcpState = (typeof CONNTRACK_TCP_STATES)[number];

/** CTA_STATUS bits (nf_conntrack_common.h) tcpdir reads. */
export const IPS = { EXPECTED: 0x1, SEEN_REPLY: 0x2, ASSURED: 0x4, CONFIRMED: 0x8, SRC_NAT: 0x10, DST_NAT: 0x20, OFFLOAD: 0x4000 } as const;

/** struct nf_ct_tcp_flags bits (nf_conntrack_tcp.h). */
export const CT_TCP_FLAG = { WINDOW_SCALE: 0x01, SACK_PERM: 0x02, CLOSE_INIT: 0x04, BE_LIBERAL: 0x08 } as const;

/** One direction of an entry: addresses as RFC 5952 text, ports in host order. */
export interface ConntrackTuple {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

/** One TCP conntrack entry. */
export interface ConntrackEntry {
  family: AddressFamily;
  /** As the first packet conntrack saw travelled: its source sent that packet. */
  original: ConntrackTuple;
  /** As the answer is expected to travel, after NAT: its source is the answering socket. */
  reply: ConntrackTuple;
  /** CTA_STATUS (IPS bits). */
  status: number;
  /** CTA_PROTOINFO_TCP_STATE; null when the kernel sent none. */
  tcpState: ConntrackTcpState | null;
  /** CTA_PROTOINFO_TCP_FLAGS_ORIGINAL / _REPLY (the flags byte); null when absent. */
  flagsOriginal: number | null;
  flagsReply: number | null;
  /** CTA_ID (stable for the entry's life); null when absent. */
  id: number | null;
  /** CTA_ZONE; 0 when absent. */
  zone: number;
  /** Namespace the entry lives in (nsfs id); null for the snapshot's own in a single-namespace snapshot. */
  netns: string | null;
  /** tcpdir saw this entry created (a NEW event) in state SYN_SENT: made from a SYN, while tcpdir ran. */
  seenCreatedFromSyn: boolean;
}

/** How one namespace's conntrack table was read. */
export interface ConntrackNamespaceStatus {
  netns: string | null;
  available: boolean;
  /** EPERM (no CAP_NET_ADMIN), NATIVE_UNAVAILABLE, DISABLED, ...; null when read. */
  code: string | null;
  reason: string | null;
  /** TCP entries read. */
  entries: number;
  /** NEW events are being received for it (entries made from a SYN can be told for certain). */
  events: boolean;
}

/** What conntrack contributed to a snapshot. */
export interface ConntrackEvidence {
  /** At least one namespace's table was read. */
  available: boolean;
  code: string | null;
  reason: string | null;
  entries: ConntrackEntry[];
  namespaces: ConntrackNamespaceStatus[];
  /** NEW events the kernel dropped (ENOBUFS) since tcpdir started: those entries are judged from the dump alone. */
  lostEvents: number;
}
