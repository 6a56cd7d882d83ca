export { Collector, type CollectorOptions } from './collector';
export { DEFAULT_NETNS_DIR, DEFAULT_PROC_ROOT, hostPaths, netnsEnterPath, type HostPaths } from './host-paths';
export { KernelEvidenceSource, kernelUnavailable, heuristicWarning, type KernelUnavailable } from './kernel';
export { collectSnapshot, readHostFacts, type CollectOptions } from './snapshot';
export { parseProcNetTcp, readProcNetTcp, ProcParseError } from './proc-net-tcp';
export { parsePortRange, parseReservedPorts, readPortRange, readReservedPorts } from './port-range';
export { parseNetnsLink, readNetnsId } from './netns-id';
export {
  ProcessResolver,
  readProcessMap,
  parseSocketLink,
  parseStatStarttime,
  type ProcessResolverOptions,
  type ResolveStats,
} from './proc-fd';
export { readSockDiag } from './sockdiag';
export { collectAllNamespaces, hasCapSysAdmin, DEFAULT_EPHEMERAL_RANGE, type AllNamespacesOptions } from './all-namespaces';
export { discoverNamespaces, NetnsDiscovery, parseCgroupContainer, type DiscoveredNetns, type Discovery, type DiscoveryOptions } from './netns-discovery';
export { NamedNetnsWatch, readNamedNetns } from './named-netns';
export { CRI_PROTO, CriClient, CriError, CriPodReader, DEFAULT_CRI_SOCKETS, findCriSocket, parseCriContainers, type CriContainer, type CriErrorKind, type CriVersion } from './cri-pods';
export { DEFAULT_KUBELET_PODS_URL, KubeletPodsError, parsePodList, readKubeletPods } from './kubelet-pods';
export { ConntrackReader, parseConntrack, readConntrack, ConntrackParseError, type ConntrackBinding, type ConntrackTarget } from './conntrack';
export { PeerAgents, PeerAnswerError, PEER_REQUEST_HEADER, parsePeers, parsePeerVerdicts, peerVerdictQuery, plainAddress, readPeerVerdicts, type PeerAgentsOptions, type PeerAsk, type PeerList, type PeerName } from './peers';
