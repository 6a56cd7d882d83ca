import type { Direction } from './verdict';

// What peer agents (tcpdir on the host at the other end) said about connections: facts only.
// What their word means for this side's verdict is the classifier's (rules/peer-agent.ts).

/** The far side's verdict of its own end of a connection, as its agent reported it. */
export interface PeerVerdict {
  direction: Direction;
  confidence: number;
  inboundProbability: number;
  certain: boolean;
}

/** One connection's answer from its peer agent. */
export interface PeerFinding {
  /** The agent asked (its base URL). */
  peer: string;
  /** Its verdict of the other end; null when it could not give one (see note). */
  verdict: PeerVerdict | null;
  /** Why there is no verdict (unreachable, timeout, no such connection there); null with a verdict. */
  note: string | null;
}

/** How one peer agent answered during a snapshot. */
export interface PeerStatus {
  url: string;
  /** Connections it was asked about (from the cache included). */
  asked: number;
  reachable: boolean;
  /** Why not, when unreachable. */
  reason: string | null;
}

/** What peer agents contributed to a snapshot. */
export interface PeerEvidence {
  /** Socket id -> the peer agent's answer about the other end. */
  bySocket: Map<string, PeerFinding>;
  peers: PeerStatus[];
}
