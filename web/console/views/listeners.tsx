import { gql } from '../api';
import { count, endpoint, processText, type Endpoint } from '../format';
import type { Route } from '../url';
import { Card, ErrorBar, useLoad } from './common';

const QUERY = `query Listeners {
  listeners {
    id local { address port } dualStack netns processes { pid command }
    inbound: connectionCount(direction: INBOUND)
    remoteAddresses(direction: INBOUND, limit: 5) { address count }
  }
}`;

interface ListenerRow {
  id: string; local: Endpoint; dualStack: boolean; netns: string | null; processes: { pid: number; command: string }[];
  inbound: number; remoteAddresses: { address: string; count: number }[];
}

/** Each listener with its inbound connection count and its busiest peers; a row opens its connections. */
export function Listeners({ go }: { go: (r: Partial<Route>, push?: boolean) => void }) {
  const { data, error } = useLoad((signal) => gql<{ listeners: ListenerRow[] }>(QUERY, {}, signal), 'listeners', 10000);
  const rows = data ? [...data.listeners].sort((a, b) => b.inbound - a.inbound || a.local.port - b.local.port) : [];
  return (
    <Card title={data ? `${count(rows.length)} listeners` : 'Listeners'}>
      <ErrorBar error={error} />
      <table class="grid listeners">
        <thead><tr><th>Listening on</th><th>Process</th><th>Netns</th><th class="num">Inbound</th><th>Top remote addresses</th></tr></thead>
        <tbody>
          {rows.map((l) => (
            <tr data-port={l.local.port}>
              <td>
                <a href={`?direction=inbound&port=${l.local.port}`} onClick={(e) => { e.preventDefault(); go({ view: 'connections', filters: { direction: 'inbound', port: String(l.local.port), ...(l.netns ? { netns: l.netns } : {}) } }, true); }}>
                  {endpoint(l.local)}
                </a>{l.dualStack ? ' (+IPv4)' : ''}
              </td>
              <td>{processText(l.processes)}</td>
              <td>{l.netns ?? '-'}</td>
              <td class="num">{count(l.inbound)}</td>
              <td>{l.remoteAddresses.map((r) => `${r.address} (${count(r.count)})`).join(', ') || '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}
