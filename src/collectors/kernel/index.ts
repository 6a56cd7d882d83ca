// The eBPF kernel source: layout (offsets and flags of the addon's records), pure decoders, the
// record table (one pass's facts, indexed by cookie), the birth store (tracepoint births kept
// across passes), the source's I/O (load, iterate, drain) and the sockets decoded from a pass.
export * from './layout';
export * from './decode';
export * from './record-table';
export * from './birth-store';
export * from './source';
export * from './sockets';
export * from './owners';
export * from './unavailable';
