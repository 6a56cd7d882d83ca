import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestLabels, topListeners } from '../../src/export';
import { SnapshotView } from '../../src/service';
import { listen, snap, sock } from '../helpers/fake-snapshot';

const inbound = (port: number, remotePort: number, netns: string | null = null) =>
  sock({ localAddress: '10.0.0.1', localPort: port, remoteAddress: '10.0.0.9', remotePort, netns });

test('topListeners: busiest first, ties by port, capped at n; one listener in several namespaces is one entry', () => {
  const sockets = [
    listen('0.0.0.0', 8080, { netns: 'net:[1]' }), listen('0.0.0.0', 8080, { netns: 'net:[2]' }),
    listen('0.0.0.0', 443), listen('0.0.0.0', 22), listen('0.0.0.0', 9999),
    inbound(8080, 50001, 'net:[1]'), inbound(8080, 50002, 'net:[2]'), inbound(8080, 50003, 'net:[2]'),
    inbound(443, 50004), inbound(443, 50005), inbound(22, 50006), inbound(22, 50007),
  ];
  const view = new SnapshotView(snap(sockets));
  assert.deepEqual(topListeners(view, 10), [
    { address: '0.0.0.0', port: 8080, connections: 3 },
    { address: '0.0.0.0', port: 22, connections: 2 },
    { address: '0.0.0.0', port: 443, connections: 2 },
  ], 'a listener without connections (9999) is left out');
  assert.deepEqual(topListeners(view, 2).map((l) => l.port), [8080, 22]);
  assert.deepEqual(topListeners(view, 0), []);
});

test('requestLabels: route templates only, a bounded method set, status classes', () => {
  assert.deepEqual(requestLabels({ route: '/api/v1/connections/:id', method: 'get', statusCode: 404 }),
    { route: '/api/v1/connections/:id', method: 'GET', status_class: '4xx' });
  assert.deepEqual(requestLabels({ route: undefined, method: 'PROPFIND', statusCode: 200 }), { route: 'unmatched', method: 'OTHER', status_class: '2xx' });
  assert.equal(requestLabels({ route: '/x', method: 'GET', statusCode: 0 }).status_class, 'other');
});
