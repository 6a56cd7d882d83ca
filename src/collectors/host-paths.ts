import { join } from 'node:path';

/** Where procfs is mounted; tests and fixtures point readers at a copied tree instead. */
export const DEFAULT_PROC_ROOT = '/proc';
/** Where `ip netns` keeps its bind mounts. */
export const DEFAULT_NETNS_DIR = '/run/netns';

/** The host paths every reader joins its files onto (node_exporter's --path.procfs, in one place). */
export interface HostPaths {
  procRoot: string;
  netnsDir: string;
}

export function hostPaths(p: Partial<HostPaths> = {}): HostPaths {
  return { procRoot: p.procRoot ?? DEFAULT_PROC_ROOT, netnsDir: p.netnsDir ?? DEFAULT_NETNS_DIR };
}

/** How to enter a namespace: its /run/netns bind mount when named (no pid race), else a member's ns/net link. */
export function netnsEnterPath(paths: HostPaths, ns: { name: string | null; pids: readonly number[] }): string | null {
  if (ns.name !== null) return join(paths.netnsDir, ns.name);
  return ns.pids.length > 0 ? join(paths.procRoot, String(ns.pids[0]), 'ns', 'net') : null;
}
