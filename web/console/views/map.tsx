import cytoscape from 'cytoscape';
import { useEffect, useRef } from 'preact/hooks';
import { gql } from '../api';
import { count } from '../format';
import { buildGraph, type Graph, type Group } from '../graph';
import type { Route } from '../url';
import { Badge, Card, ErrorBar, useLoad } from './common';

const WINDOWS = ['15m', '1h', '24h'];
/** One page of rows: flows groups, or outbound connections when history is off. */
const ROWS = 1000;

const FROM_FLOWS = `query MapFlows($since: String!) {
  host { history { mode } }
  listeners { local { port } processes { command } }
  flows(since: $since, groupBy: ["direction", "localPort", "remoteAddress", "process"], limit: ${ROWS}) { direction localPort remoteAddress process opened }
}`;
const FROM_SNAPSHOT = `query MapSnapshot {
  listeners { local { port } processes { command } remoteAddresses(direction: INBOUND, limit: 20) { address count } }
  outbound: connections(direction: OUTBOUND, limit: ${ROWS}) { remote { address } processes { command } }
  outboundCount: connectionCount(direction: OUTBOUND)
}`;

interface Listener { local: { port: number }; processes: { command: string }[]; remoteAddresses?: { address: string; count: number }[] }

async function load(since: string, signal: AbortSignal): Promise<{ graph: Graph; source: string }> {
  const h = await gql<{ host: { history: unknown } }>('{ host { history { mode } } }', {}, signal);
  if (h.host.history) {
    const d = await gql<{ listeners: Listener[]; flows: { direction: string; localPort: number | null; remoteAddress: string; process: string | null; opened: number }[] }>(FROM_FLOWS, { since }, signal);
    const groups: Group[] = d.flows.map((f) => ({ ...f, remotePort: null, count: f.opened }));
    return { graph: buildGraph(groups, names(d.listeners)), source: `connections opened in the last ${since} (flows)${d.flows.length === ROWS ? `, the ${ROWS} busiest groups` : ''}` };
  }
  const d = await gql<{ listeners: Listener[]; outbound: { remote: { address: string }; processes: { command: string }[] }[]; outboundCount: number }>(FROM_SNAPSHOT, {}, signal);
  const groups: Group[] = [];
  for (const l of d.listeners) for (const r of l.remoteAddresses ?? []) groups.push({ direction: 'INBOUND', localPort: l.local.port, process: null, remoteAddress: r.address, remotePort: null, count: r.count });
  for (const c of d.outbound) groups.push({ direction: 'OUTBOUND', localPort: null, process: c.processes[0]?.command ?? null, remoteAddress: c.remote.address, remotePort: null, count: 1 });
  const partial = d.outboundCount > d.outbound.length ? `; ${count(d.outbound.length)} of ${count(d.outboundCount)} outbound connections` : '';
  return { graph: buildGraph(groups, names(d.listeners)), source: `the current snapshot (history is off: each listener's 20 busiest peers${partial})` };
}

function names(ls: Listener[]): Map<number, string> {
  return new Map(ls.filter((l) => l.processes.length).map((l) => [l.local.port, l.processes[0].command]));
}

// Cytoscape inserts a <style> element (position: relative on its container) unless one with this id
// exists; the CSP forbids inline styles, and style.css gives .cy that rule already.
const STYLESHEET_ID = '__________cytoscape_stylesheet';
if (!document.getElementById(STYLESHEET_ID)) document.head.append(Object.assign(document.createElement('meta'), { id: STYLESHEET_ID }));

/** Who talks to whom: local services and processes, remote peers, edges coloured by direction. */
export function ServiceMap({ route, go }: { route: Route; go: (r: Partial<Route>, push?: boolean) => void }) {
  const since = route.since && WINDOWS.includes(route.since) ? route.since : '1h';
  const { data, error } = useLoad((signal) => load(since, signal), since, 30000);
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current || !data) return;
    const cy = cytoscape({
      container: el.current,
      elements: [
        ...data.graph.nodes.map((n) => ({ data: { id: n.id, label: n.label, kind: n.kind } })),
        ...data.graph.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.from, target: e.to, label: count(e.count), direction: e.direction } })),
      ],
      style: [
        { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-valign': 'bottom', 'text-margin-y': 4, width: 18, height: 18, 'background-color': '#888' } },
        { selector: 'node[kind = "service"]', style: { shape: 'round-rectangle', 'background-color': '#1f77b4', width: 26, height: 26 } },
        { selector: 'node[kind = "process"]', style: { shape: 'round-rectangle', 'background-color': '#d9730d', width: 26, height: 26 } },
        { selector: 'edge', style: { width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle', label: 'data(label)', 'font-size': 10, 'text-background-color': '#fff', 'text-background-opacity': 1 } },
        { selector: 'edge[direction = "INBOUND"]', style: { 'line-color': '#1f77b4', 'target-arrow-color': '#1f77b4' } },
        { selector: 'edge[direction = "OUTBOUND"]', style: { 'line-color': '#d9730d', 'target-arrow-color': '#d9730d' } },
        { selector: 'edge[direction = "UNKNOWN"]', style: { 'line-color': '#999', 'target-arrow-color': '#999', 'line-style': 'dashed' } },
      ],
      layout: { name: 'cose', animate: false },
    });
    const byId = new Map(data.graph.nodes.map((n) => [n.id, n]));
    cy.on('tap', 'node', (evt) => {
      const n = byId.get(evt.target.id());
      if (n) go({ view: 'connections', filters: n.filter, since: undefined }, true);
    });
    return () => cy.destroy();
  }, [data]);
  const labels = new Map(data?.graph.nodes.map((n) => [n.id, n.label]) ?? []);
  return (
    <div class="map">
      <div class="toolbar">
        <label>Window <select name="since" value={since} onChange={(e) => go({ since: (e.target as HTMLSelectElement).value })}>{WINDOWS.map((w) => <option value={w}>{w}</option>)}</select></label>
        <span class="muted" data-testid="map-source">{data ? `From ${data.source}. Click a node for its connections.` : 'loading…'}</span>
      </div>
      <ErrorBar error={error} />
      {data && data.graph.edges.length === 0 && <p class="muted">Nothing to draw yet.</p>}
      <div ref={el} class="cy" />
      {data && data.graph.edges.length > 0 && (
        <Card title="Edges">
          <table class="grid edges">
            <thead><tr><th>From</th><th>To</th><th>Direction</th><th class="num">Connections</th></tr></thead>
            <tbody>
              {data.graph.edges.map((e) => (
                <tr data-from={labels.get(e.from)} data-to={labels.get(e.to)}>
                  <td>{labels.get(e.from)}</td><td>{labels.get(e.to)}</td><td><Badge direction={e.direction} /></td><td class="num">{count(e.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </div>
  );
}
