// The embedded history store: connection lives in SQLite, with flows, retention and paging.
export * from './record';
export { HistoryStore, type HistoryStoreOptions, type StoreStatus } from './store';
export { HistoryStoreError, HistoryFilterError, type StoreErrorCode } from './errors';
export type { HistoryFilter, PageOptions, HistoryPage } from './queries';
export { MAX_LIMIT as MAX_HISTORY_LIMIT } from './queries';
export { FLOW_GROUPS, MAX_FLOW_LIMIT, type FlowFilter, type FlowGroup, type FlowRow } from './flows';
export type { PruneResult } from './retention';
export { addressRange, addressKey } from './cidr';
export { Recorder, type LifeEvent, type LifeEventType, type ObservedConnection, type ObservedConnections, type Observation, type RecorderStatus } from './recorder';
