// The tcpdir console: overview, connections (filter, sort, page, explain), listeners, live events.
// State lives in the URL (url.ts); data comes from this server's GraphQL API (api.ts).
import { render } from 'preact';
import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { storedToken, storeToken } from '../shared/token';
import { onUnauthorized } from './api';
import './style.css';
import { readRoute, routeSearch, type Route, type View } from './url';
import { Connections } from './views/connections';
import { Listeners } from './views/listeners';
import { Live } from './views/live';
import { Overview } from './views/overview';

const NAV: { view: View; label: string }[] = [
  { view: 'overview', label: 'Overview' },
  { view: 'connections', label: 'Connections' },
  { view: 'listeners', label: 'Listeners' },
  { view: 'map', label: 'Service map' },
  { view: 'live', label: 'Live' },
];

function App() {
  const [route, setRoute] = useState<Route>(readRoute());
  const [needToken, setNeedToken] = useState(false);
  // Bumped when a token is entered: every view loads again.
  const [epoch, setEpoch] = useState(0);

  useEffect(() => {
    const pop = () => setRoute(readRoute());
    addEventListener('popstate', pop);
    const off = onUnauthorized(() => setNeedToken(true));
    return () => { removeEventListener('popstate', pop); off(); };
  }, []);

  /** Changes the route; `push` makes a history entry (a view or a drawer), else the URL is replaced (filters as typed). */
  const go = (r: Partial<Route>, push = false) => {
    const next: Route = { ...route, ...r };
    if (r.view && r.view !== route.view && !('filters' in r)) next.filters = r.view === 'connections' || r.view === 'live' ? route.filters : {};
    if (r.view && r.view !== route.view) { next.id = r.id; next.since = r.since; push = true; }
    const url = routeSearch(next);
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
    setRoute(next);
  };

  return (
    <div class="app">
      <header>
        <h1>tcpdir</h1>
        <nav>
          {NAV.map((n) => (
            <a href={routeSearch({ view: n.view, filters: {} })} class={route.view === n.view ? 'active' : ''} aria-current={route.view === n.view ? 'page' : undefined}
              onClick={(e) => { e.preventDefault(); go({ view: n.view }); }}>{n.label}</a>
          ))}
          <a href="/graphql" target="_blank" rel="noopener">GraphQL IDE</a>
        </nav>
        {storedToken() && <button class="link" onClick={() => { storeToken(null); setNeedToken(true); }}>Forget token</button>}
      </header>
      {needToken && <TokenForm refused={storedToken() !== null} onDone={(t) => { storeToken(t); setNeedToken(false); setEpoch(epoch + 1); }} />}
      <main key={epoch}>
        {route.view === 'overview' && <Overview go={go} />}
        {route.view === 'connections' && <Connections route={route} go={go} />}
        {route.view === 'listeners' && <Listeners go={go} />}
        {route.view === 'map' && <LazyMap route={route} go={go} />}
        {route.view === 'live' && <Live route={route} go={go} />}
      </main>
    </div>
  );
}

type MapProps = { route: Route; go: (r: Partial<Route>, push?: boolean) => void };
let mapView: ComponentType<MapProps> | null = null;
/** The service map, with Cytoscape.js (most of the console's bytes), is loaded on first visit only. */
function LazyMap(props: MapProps) {
  const [View, setView] = useState(() => mapView);
  useEffect(() => {
    if (!View) void import('./views/map').then((m) => { mapView = m.ServiceMap; setView(() => m.ServiceMap); });
  }, []);
  return View ? <View {...props} /> : <p class="muted">loading the map…</p>;
}

function TokenForm({ refused, onDone }: { refused: boolean; onDone: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form class="token" onSubmit={(e) => { e.preventDefault(); if (value.trim()) onDone(value.trim()); }}>
      <p role="alert">
        {refused ? 'The server refused the token you gave (401).' : 'This tcpdir server needs a bearer token (it answered 401).'}{' '}
        Enter the token it was started with (<code>--token</code> or <code>TCPDIR_TOKEN</code>); it is kept in this browser tab only.
      </p>
      <input type="password" name="token" autocomplete="off" placeholder="token" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      <button type="submit">Use token</button>
    </form>
  );
}

render(<App />, document.getElementById('console')!);
