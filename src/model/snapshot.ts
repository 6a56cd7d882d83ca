import type { ConntrackEvidence } from './conntrack';
import type { History } from './history';
import type { HostFacts } from './host';
import type { KernelEvidence } from './kernel';
import type { NetnsInfo } from './netns';
import type { ProcessMap } from './process';
import type { Socket } from './socket';
import type { SourceName } from './source';

/** Which reader listed the sockets: sock_diag, /proc/net/tcp{,6}, or the eBPF TCP iterator. */

/** Everything one collection saw. The classifier is a pure function of this. */
export interface Snapshot {
  source: SourceName;
  /** Why the preferred source was not used, when a fallback happened. */
  fallbackReason: string | null;
  /** Milliseconds since the epoch when collection started. */
  collectedAt: number;
  /** Time the collection took, in milliseconds. */
  durationMs: number;
  host: HostFacts;
  /** Every TCP socket, LISTEN included, de-duplicated by id. */
  sockets: Socket[];
  /** Owners by inode; null when the caller did not ask for processes. */
  processes: ProcessMap | null;
  /**
   * Every namespace the snapshot covers, when it spans several (sockets then carry Socket.netns).
   * Absent or null: one namespace, described by `host`.
   */
  namespaces?: NetnsInfo[] | null;
  /** What the kernel itself says about the sockets (eBPF), when the source was asked for. */
  kernel?: KernelEvidence | null;
  /** Netfilter's connection-tracking entries (ctnetlink), when they were read. */
  conntrack?: ConntrackEvidence | null;
  /** Memory of earlier snapshots, when the caller keeps one (the service does). */
  history?: History | null;
}
