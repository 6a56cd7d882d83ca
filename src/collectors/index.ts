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
export { discoverNamespaces, parseCgroupContainer, readNamedNetns, type DiscoveredNetns, type Discovery } from './netns-discovery';
