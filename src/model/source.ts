/** Where a snapshot's sockets were read from. */
export type SourceName = 'netlink' | 'procfs' | 'ebpf';
