import { findListener } from '../classifier';
import type { Socket } from '../model';
import type { SnapshotView } from '../service';

/** One local endpoint already resolved to its listener (or to none). */
interface Resolved {
  netns: string | null;
  count: ListenerCount | null;
}

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
  // Inbound connections share a few local endpoints (one per listener and address): resolve each
  // endpoint once (by port, address, then a scan of the namespaces that have it), instead of a
  // listener search and a string key per connection: a scrape at 100k sockets spent most of its
  // time there.
  const byPort = new Map<number, Map<string, Resolved[]>>();
  const resolve = (conn: Socket): ListenerCount | null => {
    let byAddress = byPort.get(conn.localPort);
    if (!byAddress) byPort.set(conn.localPort, (byAddress = new Map()));
    let list = byAddress.get(conn.localAddress);
    if (!list) byAddress.set(conn.localAddress, (list = []));
    for (const r of list) if (r.netns === conn.netns) return r.count;
    const l = findListener(view.ctx, conn);
    let count: ListenerCount | null = null;
    if (l) {
      const key = `${l.localAddress} ${l.localPort}`;
      count = counts.get(key) ?? null;
      if (!count) counts.set(key, (count = { address: l.localAddress, port: l.localPort, connections: 0 }));
    }
    list.push({ netns: conn.netns, count });
    return count;
  };
  const { conns } = view.ctx;
  for (let i = 0; i < conns.length; i++) {
    if (view.verdicts.direction(i) !== 'INBOUND') continue;
    const c = resolve(conns[i]);
    if (c) c.connections++;
  }
  return [...counts.values()]
    .sort((a, b) => b.connections - a.connections || a.port - b.port || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .slice(0, n);
}
