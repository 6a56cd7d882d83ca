export { TcpdirService, type ServiceOptions, type SnapshotEvent } from './tcpdir-service';
export { remoteRange, SnapshotView, type ConnectionFilter } from './view';
export type { ConnectionOrdering, ConnectionOrderName } from './connection-order';
export { InputError } from './errors';
export * from './validate';
export type { ConnectionRecord, ListenerRecord, EndpointRecord } from './records';
export { netnsIdFor, netnsInfos, netnsRecords, socketNetns, type NetnsRecord } from './netns-view';
export { eventFilter, HistoryService, type EventFilter, type HistoryOptions, type HistoryStatus } from './history-service';
export { conntrackFactsOf, conntrackStatus, natOfConnection, netnsConntrackStatus, trackedFlows, type ConntrackFactsRecord, type ConntrackStatusRecord, type NatRecord, type TrackedFlowRecord } from './conntrack-view';
