export interface PortRange {
  low: number;
  high: number;
}

/** Facts about the network namespace the snapshot was taken in. */
export interface HostFacts {
  /** `ip_local_port_range` of this namespace; null when it could not be read. */
  ephemeralPortRange: PortRange | null;
  /** `ip_local_reserved_ports`, as inclusive ranges. */
  reservedPorts: PortRange[];
  /**
   * True when the range could not be read inside the namespace (no CAP_SYS_ADMIN to enter it) and
   * Linux's default 32768-60999 is assumed instead: range-based evidence then weighs half.
   */
  ephemeralPortRangeAssumed?: boolean;
  /** nsfs inode of /proc/self/ns/net, e.g. "net:[4026531840]"; null when unreadable. */
  netns: string | null;
}
