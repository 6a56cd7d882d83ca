// GraphiQL on GET /graphql (for a browser): queries over HTTP POST, subscriptions over graphql-ws
// on the same path. The bearer token, when the console has one, is sent with both.
import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import './page.css';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';
import { storedToken } from '../shared/token';
import { EXAMPLES } from './examples';

// The Authorization of the headers editor wins over the stored token; the subscription client
// reads it when it connects (graphql-ws connects lazily, on the first subscription).
let authorization: string | undefined;
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
const wsClient = createClient({ url: wsUrl, lazy: true, connectionParams: () => (authorization ? { authorization } : {}) });
const inner = createGraphiQLFetcher({ url: '/graphql', wsClient });

const fetcher: Fetcher = (params, opts) => {
  const headers: Record<string, string> = { ...(opts?.headers ?? {}) };
  const given = Object.entries(headers).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
  const token = storedToken();
  authorization = given ?? (token ? `Bearer ${token}` : undefined);
  if (!given && authorization) headers.Authorization = authorization;
  return inner(params, { ...opts, headers });
};

createRoot(document.getElementById('graphiql')!).render(
  <GraphiQL
    fetcher={fetcher}
    defaultTabs={EXAMPLES}
    defaultEditorToolsVisibility={false}
  />,
);
