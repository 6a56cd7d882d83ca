import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { gql } from '../api';
import { confidenceText, count, endpoint, processText, type Endpoint } from '../format';
import type { Filters, Route } from '../url';
import { Badge, ErrorBar } from './common';
import { Drawer } from './drawer';

const ROW_H = 30;
/** Rows per request: the table asks for one page at a time, as it scrolls. */
export const PAGE = 200;

interface Row {
  id: string; state: string; local: Endpoint; remote: Endpoint; netns: string | null;
  processes: { pid: number; command: string }[];
  verdict: { direction: string; confidence: number; certain: boolean; inboundProbability: number };
}

const VARS = '$direction: Direction, $port: Int, $process: String, $remoteAddress: String, $netns: String, $minConfidence: Float, $state: TcpState';
const ARGS = 'direction: $direction, port: $port, process: $process, remoteAddress: $remoteAddress, netns: $netns, minConfidence: $minConfidence, state: $state';
const COUNT = `query Count(${VARS}) { connectionCount(${ARGS}) }`;
const PAGE_QUERY = `query Page(${VARS}, $limit: Int!, $offset: Int!, $orderBy: ConnectionOrder, $descending: Boolean) {
  connections(${ARGS}, limit: $limit, offset: $offset, orderBy: $orderBy, descending: $descending) {
    id state local { address port } remote { address port } netns processes { pid command }
    verdict { direction confidence certain inboundProbability }
  }
}`;

/** The GraphQL variables of the URL's filters (the server checks them and names a bad one). */
export function filterVars(f: Filters): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  if (f.direction) v.direction = f.direction.toUpperCase();
  if (f.state) v.state = f.state.toUpperCase();
  if (f.port) v.port = /^\d+$/.test(f.port) ? Number(f.port) : f.port;
  if (f.process) v.process = f.process;
  if (f.remote) v.remoteAddress = f.remote;
  if (f.netns) v.netns = f.netns;
  if (f.minConfidence) v.minConfidence = Number(f.minConfidence);
  return v;
}

const COLUMNS: { label: string; sort?: string; cls: string }[] = [
  { label: 'Direction', sort: 'DIRECTION', cls: 'c-dir' },
  { label: 'Confidence', sort: 'CONFIDENCE', cls: 'c-conf' },
  { label: 'State', sort: 'STATE', cls: 'c-state' },
  { label: 'Local', sort: 'LOCAL', cls: 'c-ep' },
  { label: 'Remote', sort: 'REMOTE', cls: 'c-ep' },
  { label: 'Process', cls: 'c-proc' },
  { label: 'Netns', sort: 'NETNS', cls: 'c-ns' },
];

export function Connections({ route, go }: { route: Route; go: (r: Partial<Route>, push?: boolean) => void }) {
  const vars = useMemo(() => filterVars(route.filters), [JSON.stringify(route.filters)]);
  const key = JSON.stringify([vars, route.sort, route.desc]);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const pages = useRef(new Map<number, Row[] | 'loading'>());
  const [, setTick] = useState(0);
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const body = useRef<HTMLDivElement>(null);

  useEffect(() => {
    pages.current = new Map();
    setTotal(null);
    setError(null);
    if (body.current) body.current.scrollTop = 0;
    const ctl = new AbortController();
    gql<{ connectionCount: number }>(COUNT, vars, ctl.signal).then((d) => setTotal(d.connectionCount), (e: unknown) => !ctl.signal.aborted && setError(e));
    return () => ctl.abort();
  }, [key]);

  useEffect(() => {
    const el = body.current;
    if (!el) return;
    const measure = () => setScroll({ top: el.scrollTop, height: el.clientHeight });
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scroll.top / ROW_H) - 5);
  const last = Math.min(total ?? 0, Math.ceil((scroll.top + scroll.height) / ROW_H) + 5);
  useEffect(() => {
    if (total === null) return;
    for (let p = Math.floor(first / PAGE); p * PAGE < last; p++) {
      if (pages.current.has(p)) continue;
      const map = pages.current;
      map.set(p, 'loading');
      // An answer for a filter no longer shown is dropped (its map was replaced).
      gql<{ connections: Row[] }>(PAGE_QUERY, { ...vars, limit: PAGE, offset: p * PAGE, orderBy: route.sort ?? null, descending: route.desc ?? false }).then(
        (d) => { if (map === pages.current) { map.set(p, d.connections); setTick((t) => t + 1); } },
        (e: unknown) => { map.delete(p); if (map === pages.current) setError(e); },
      );
    }
  }, [first, last, total, key]);

  const rows: { i: number; row: Row | null }[] = [];
  for (let i = first; i < last; i++) {
    const page = pages.current.get(Math.floor(i / PAGE));
    rows.push({ i, row: Array.isArray(page) ? (page[i % PAGE] ?? null) : null });
  }

  const sortBy = (s: string) => go({ sort: s, desc: route.sort === s ? !route.desc : false });
  return (
    <div class="connections">
      <FilterBar filters={route.filters} onChange={(filters) => go({ filters, id: undefined })} />
      <ErrorBar error={error} />
      <p class="muted" data-testid="row-count">{total === null ? 'counting…' : `${count(total)} connection${total === 1 ? '' : 's'}`}</p>
      <div class="table" role="table" aria-rowcount={total ?? 0}>
        <div class="thead" role="row">
          {COLUMNS.map((c) => (
            <div role="columnheader" class={`${c.cls}${c.sort ? ' sortable' : ''}`} onClick={c.sort ? () => sortBy(c.sort!) : undefined}
              aria-sort={route.sort === c.sort ? (route.desc ? 'descending' : 'ascending') : undefined}>
              {c.label}{route.sort === c.sort ? (route.desc ? ' ▼' : ' ▲') : ''}
            </div>
          ))}
        </div>
        <div class="tbody" ref={body} onScroll={(e) => setScroll({ top: (e.target as HTMLDivElement).scrollTop, height: (e.target as HTMLDivElement).clientHeight })}>
          <div class="spacer" style={{ height: `${(total ?? 0) * ROW_H}px` }}>
            {rows.map(({ i, row }) => (
              <div role="row" class={`tr${row && row.id === route.id ? ' selected' : ''}`} style={{ transform: `translateY(${i * ROW_H}px)` }} data-row={i} data-id={row?.id}
                tabIndex={row ? 0 : -1} onClick={row ? () => go({ id: row.id }, true) : undefined}
                onKeyDown={row ? (e) => { if (e.key === 'Enter') go({ id: row.id }, true); } : undefined}>
                {row ? (
                  <>
                    <div class="c-dir"><Badge direction={row.verdict.direction} /></div>
                    <div class="c-conf">{confidenceText(row.verdict)}</div>
                    <div class="c-state">{row.state}</div>
                    <div class="c-ep">{endpoint(row.local)}</div>
                    <div class="c-ep">{endpoint(row.remote)}</div>
                    <div class="c-proc">{processText(row.processes)}</div>
                    <div class="c-ns">{row.netns ?? '-'}</div>
                  </>
                ) : <div class="loading">loading…</div>}
              </div>
            ))}
          </div>
        </div>
      </div>
      {route.id && <Drawer id={route.id} onClose={() => go({ id: undefined })} />}
    </div>
  );
}

const FIELDS: { key: keyof Filters; label: string; placeholder: string }[] = [
  { key: 'port', label: 'Port', placeholder: 'either end' },
  { key: 'process', label: 'Process', placeholder: 'command or pid' },
  { key: 'remote', label: 'Remote address', placeholder: '10.0.0.0/8' },
  { key: 'netns', label: 'Netns', placeholder: 'id or name' },
];

function FilterBar({ filters, onChange }: { filters: Filters; onChange: (f: Filters) => void }) {
  const [draft, setDraft] = useState(filters);
  useEffect(() => setDraft(filters), [JSON.stringify(filters)]);
  const set = (k: keyof Filters, v: string) => {
    const next = { ...draft, [k]: v || undefined };
    setDraft(next);
    return next;
  };
  return (
    <form class="filters" onSubmit={(e) => { e.preventDefault(); onChange(draft); }}>
      <label>Direction
        <select name="direction" value={draft.direction ?? ''} onChange={(e) => onChange(set('direction', (e.target as HTMLSelectElement).value))}>
          <option value="">any</option><option value="inbound">inbound</option><option value="outbound">outbound</option><option value="unknown">unknown</option>
        </select>
      </label>
      {FIELDS.map((f) => (
        <label>{f.label}
          <input name={f.key} value={draft[f.key] ?? ''} placeholder={f.placeholder} size={12}
            onInput={(e) => set(f.key, (e.target as HTMLInputElement).value.trim())} onBlur={() => onChange(draft)} />
        </label>
      ))}
      <label>Min confidence
        <select name="minConfidence" value={draft.minConfidence ?? ''} onChange={(e) => onChange(set('minConfidence', (e.target as HTMLSelectElement).value))}>
          <option value="">any</option><option value="0.5">50%</option><option value="0.9">90%</option><option value="0.99">99%</option><option value="1">certain</option>
        </select>
      </label>
      {draft.state && <label>State <input name="state" value={draft.state} size={10} onInput={(e) => set('state', (e.target as HTMLInputElement).value.trim())} onBlur={() => onChange(draft)} /></label>}
      <button type="submit">Apply</button>
      <button type="button" onClick={() => onChange({})}>Clear</button>
    </form>
  );
}
