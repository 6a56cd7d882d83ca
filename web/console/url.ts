// Every view and filter lives in the URL query, so a link opens the same page:
// /?port=8080&direction=inbound opens the connections view so filtered.
export const VIEWS = ['overview', 'connections', 'listeners', 'live', 'map'] as const;
export type View = (typeof VIEWS)[number];

export interface Filters {
  direction?: string;
  port?: string;
  process?: string;
  remote?: string;
  netns?: string;
  minConfidence?: string;
  state?: string;
}
export const FILTER_KEYS: (keyof Filters)[] = ['direction', 'port', 'process', 'remote', 'netns', 'minConfidence', 'state'];

export interface Route {
  view: View;
  filters: Filters;
  sort?: string;
  desc?: boolean;
  /** The connection whose drawer is open. */
  id?: string;
  /** The service map's window (15m, 1h, 24h). */
  since?: string;
}

export function readRoute(search = location.search): Route {
  const q = new URLSearchParams(search);
  const filters: Filters = {};
  for (const k of FILTER_KEYS) {
    const v = q.get(k);
    if (v) filters[k] = v;
  }
  const asked = q.get('view') as View | null;
  // A filter without a view means the connections it selects.
  const view: View = asked && VIEWS.includes(asked) ? asked : Object.keys(filters).length || q.get('id') ? 'connections' : 'overview';
  return { view, filters, sort: q.get('sort') ?? undefined, desc: q.get('desc') === '1', id: q.get('id') ?? undefined, since: q.get('since') ?? undefined };
}

export function routeSearch(r: Route): string {
  const q = new URLSearchParams();
  if (r.view !== 'overview') q.set('view', r.view);
  for (const k of FILTER_KEYS) if (r.filters[k]) q.set(k, r.filters[k]!);
  if (r.sort) q.set('sort', r.sort);
  if (r.desc) q.set('desc', '1');
  if (r.id) q.set('id', r.id);
  if (r.since) q.set('since', r.since);
  const s = q.toString();
  return s ? `?${s}` : '/';
}
