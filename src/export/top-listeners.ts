import { findListener } from '../classifier';
import type { SnapshotView } from '../service';

export interface ListenerCount {
  address: string;
  port: number;
  connections: number;
}

/**
 * Inbound connections per listener, the `n` busiest (ties: lower port, then address, so the set
 * is stable between scrapes). Listeners are keyed by address and port only: the same listener
 * in several namespaces (one per pod) adds up to one series instead of one per namespace.
 * Listeners without connections are left out.
 */
export function topListeners(view: SnapshotView, n: number): ListenerCount[] {
  if (n <= 0) return [];
  const counts = new Map<string, ListenerCount>();
  const { conns } = view.ctx;
  for (let i = 0; i < conns.length; i++) {
    if (view.verdicts.direction(i) !== 'INBOUND') continue;
    const l = findListener(view.ctx, conns[i]);
    if (!l) continue;
    const key = `${l.localAddress} ${l.localPort}`;
    const c = counts.get(key);
    if (c) c.connections++;
    else counts.set(key, { address: l.localAddress, port: l.localPort, connections: 1 });
  }
  return [...counts.values()]
    .sort((a, b) => b.connections - a.connections || a.port - b.port || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .slice(0, n);
}
