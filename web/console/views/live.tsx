import { useEffect, useRef, useState } from 'preact/hooks';
import { subscriptions } from '../api';
import { endpoint, processText, timeText, type Endpoint } from '../format';
import type { Route } from '../url';
import { Badge, ErrorBar } from './common';

const SUB = `subscription Live($direction: Direction, $port: Int, $netns: String) {
  connectionEvents(direction: $direction, port: $port, netns: $netns) {
    type at
    record { id direction confidence certain local { address port } remote { address port } process { pid command } netns }
  }
}`;

interface Event {
  type: string; at: string;
  record: { id: string; direction: string; confidence: number; certain: boolean; local: Endpoint; remote: Endpoint; process: { pid: number; command: string } | null; netns: string | null };
}

/** Events kept on screen: the newest first. */
const KEEP = 500;

/** Connections as they open and close (graphql-ws `connectionEvents`), pausable. */
export function Live({ route, go }: { route: Route; go: (r: Partial<Route>) => void }) {
  const [events, setEvents] = useState<Event[]>([]);
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('connecting…');
  const held = useRef<Event[]>([]);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  const [, setHeldCount] = useState(0);

  useEffect(() => {
    const f = route.filters;
    const variables: Record<string, unknown> = {};
    if (f.direction) variables.direction = f.direction.toUpperCase();
    if (f.port && /^\d+$/.test(f.port)) variables.port = Number(f.port);
    if (f.netns) variables.netns = f.netns;
    setStatus('connecting…');
    const client = subscriptions();
    const offConnected = client.on('connected', () => setStatus('live'));
    const stop = client.subscribe<{ connectionEvents: Event }>({ query: SUB, variables }, {
      next: (r) => {
        if (r.errors?.length) { setError(new Error(r.errors[0].message)); return; }
        const e = r.data?.connectionEvents;
        if (!e) return;
        if (pausedRef.current) { held.current.unshift(e); setHeldCount(held.current.length); return; }
        setEvents((old) => [e, ...old].slice(0, KEEP));
      },
      error: (e: unknown) => {
        setStatus('stopped');
        setError(new Error(subscriptionError(e)));
      },
      complete: () => setStatus('ended'),
    });
    return () => { offConnected(); stop(); };
  }, [JSON.stringify(route.filters)]);

  const resume = () => {
    setEvents((old) => [...held.current, ...old].slice(0, KEEP));
    held.current = [];
    setHeldCount(0);
    setPaused(false);
  };
  return (
    <div class="live">
      <div class="toolbar">
        <span data-testid="live-status" class={`status ${status === 'live' ? 'ok' : ''}`}>{paused ? 'paused' : status}</span>
        {paused ? <button onClick={resume}>Resume{held.current.length ? ` (${held.current.length} new)` : ''}</button> : <button onClick={() => setPaused(true)}>Pause</button>}
        <button onClick={() => setEvents([])}>Clear</button>
        <select name="direction" aria-label="Direction" value={route.filters.direction ?? ''} onChange={(e) => go({ filters: { ...route.filters, direction: (e.target as HTMLSelectElement).value || undefined } })}>
          <option value="">any direction</option><option value="inbound">inbound</option><option value="outbound">outbound</option><option value="unknown">unknown</option>
        </select>
        <input name="port" aria-label="Port" placeholder="port" size={7} value={route.filters.port ?? ''}
          onChange={(e) => go({ filters: { ...route.filters, port: (e.target as HTMLInputElement).value.trim() || undefined } })} />
        <span class="muted">New connections as they open and close. The newest {KEEP} are kept.</span>
      </div>
      <ErrorBar error={error} />
      <table class="grid events">
        <thead><tr><th>Time</th><th>Event</th><th>Direction</th><th>Local</th><th>Remote</th><th>Process</th></tr></thead>
        <tbody>
          {events.map((e) => (
            <tr class={`ev-${e.type.toLowerCase()}`} data-local-port={e.record.local.port} data-remote-port={e.record.remote.port}>
              <td>{timeText(e.at)}</td><td>{e.type}</td><td><Badge direction={e.record.direction} /></td>
              <td>{endpoint(e.record.local)}</td><td>{endpoint(e.record.remote)}</td><td>{processText(e.record.process ? [e.record.process] : [])}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 0 && <p class="muted">Waiting for connections to open…</p>}
    </div>
  );
}

/** graphql-ws reports a close event, an Error, or the GraphQL errors of the subscription. */
function subscriptionError(e: unknown): string {
  if (Array.isArray(e)) return (e as { message?: string }[]).map((x) => x.message).join('; ');
  if (e instanceof Error) return e.message;
  const closed = e as { code?: number; reason?: string };
  if (typeof closed?.code === 'number') {
    if (closed.code === 4403) return 'the server refused the subscription: a bearer token is needed';
    return `the event stream closed (${closed.code}${closed.reason ? `: ${closed.reason}` : ''})`;
  }
  return String(e);
}
