import type { HostFacts } from './host';
import type { SourceName } from './source';

/** The container a namespace's processes belong to, read from /proc/PID/cgroup. */
export interface ContainerRef {
  /** docker, containerd, cri-o, podman, ... */
  runtime: string;
  id: string;
  /** Kubernetes pod UID when the cgroup path carries one. */
  podUid: string | null;
}

/** One network namespace of a multi-namespace snapshot. */
export interface NetnsInfo {
  /** nsfs id, e.g. "net:[4026531840]"; sockets of this namespace carry it in Socket.netns. */
  id: string;
  /** Name from /run/netns (ip netns), when it has one. */
  name: string | null;
  /** Processes (tgids) living in it. */
  pids: number[];
  container: ContainerRef | null;
  /** Its own port range and reserved ports, read from inside it. */
  host: HostFacts;
  /** How its sockets were read; 'none' when they could not be. */
  source: SourceName | 'none';
  /** Why a fallback happened or the namespace was skipped. */
  reason: string | null;
  /** The namespace tcpdir itself runs in. */
  self: boolean;
  /**
   * When its sockets were read (ms since the epoch). Older than the snapshot when the kernel
   * counted no change in it since (collectors/netns-walks.ts); absent when not read.
   */
  readAt?: number;
}

/** The Kubernetes pod a container belongs to, from the kubelet's pod list. */
export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
  /** The container's name in the pod spec. */
  containerName: string;
}
