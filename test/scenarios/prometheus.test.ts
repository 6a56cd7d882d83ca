// A real Prometheus scraping three tcpdir agents, each in its own network namespace, all joined
// by a bridge (bridge.ts). Prometheus runs in the hub namespace on its own port, config and
// storage directory (nothing of the Debian package's service is used). In the namespaces,
// python actors open known connections between the members: a connection from A to a listener
// in B is OUTBOUND for A's agent and INBOUND for B's. Asserted through PromQL on Prometheus's
// HTTP API, per instance: outbound and inbound counts, inbound per listener, certainty with
// kernel evidence. Prometheus's own scrape connection is an inbound connection of every agent,
// to its port 4000: the queries subtract it by that listener's series.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startUntil, stop } from '../helpers/processes';
import { BRIDGE_NET, createBridged, nodeIn, type Bridged } from './bridge';
import { Actor, REPO_ROOT, unsupportedReason, type ActorSocket } from './netns';

const skip = unsupportedReason() ?? (spawnSync('prometheus', ['--version']).status !== 0 ? 'prometheus is not installed (apt-get install prometheus)' : null);
if (skip) console.log(`# prometheus suite skipped: ${skip}`);

const TOKEN = 'prometheus-scenario-token';
const AGENT_PORT = 4000;
// The hub is a namespace of our own: this port is free there whatever the host runs.
const PROM_PORT = 19090;
/** Listener port of member i, and who connects to it how often: [from member, count]. */
const PLAN: Array<{ port: number; clients: Array<[number, number]> }> = [
  { port: 7001, clients: [[1, 2], [2, 1]] }, // A: 3 in;  B, C connect
  { port: 7002, clients: [[2, 5]] }, //         B: 5 in;  C connects
  { port: 7003, clients: [[0, 4]] }, //         C: 4 in;  A connects
];
const EXPECT = PLAN.map((p, i) => ({
  inbound: p.clients.reduce((n, [, c]) => n + c, 0),
  outbound: PLAN.reduce((n, q) => n + q.clients.filter(([from]) => from === i).reduce((m, [, c]) => m + c, 0), 0),
}));

describe('Prometheus scraping three agents in three namespaces', { skip: skip ?? false, timeout: 120_000 }, () => {
  let net: Bridged;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  const agents: ChildProcess[] = [];
  const actors: Actor[] = [];

  /** An instant query's vector as { instance: value }, run from inside the hub namespace. */
  const query = async (q: string): Promise<Record<string, number>> => {
    const url = `http://127.0.0.1:${PROM_PORT}/api/v1/query?query=${encodeURIComponent(q)}`;
    const body = JSON.parse(await nodeIn(net.hub, `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`)) as {
      status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    assert.equal(body.status, 'success', `${q}: ${body.error}`);
    return Object.fromEntries(body.data.result.map((r) => [r.metric.instance, Number(r.value[1])]));
  };
  const instance = (i: number) => `${BRIDGE_NET.member(i)}:${AGENT_PORT}`;
  const perInstance = (f: (i: number) => number) => Object.fromEntries(PLAN.map((_, i) => [instance(i), f(i)]));
  /** Polls until `q` returns `want` (scrapes run every second), then asserts on the last answer. */
  const eventually = async (q: string, want: Record<string, number>, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let got = await query(q);
    while (JSON.stringify(sorted(got)) !== JSON.stringify(sorted(want)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      got = await query(q);
    }
    assert.deepEqual(sorted(got), sorted(want), q);
  };

  before(async () => {
    net = createBridged(PLAN.length);
    dir = mkdtempSync(path.join(tmpdir(), 'tcpdir-prom-'));
    // Agents first, each reading only its own namespace, on the bridge address (a token is what
    // bind-policy.ts asks of a non-loopback address).
    for (const [i, m] of net.members.entries()) {
      agents.push(await startUntil(['ip', 'netns', 'exec', m.ns, process.execPath, path.join(REPO_ROOT, 'bin', 'tcpdir.js'), 'serve',
        '--host', m.address, '--port', String(AGENT_PORT), '--token', TOKEN, '--no-all-namespaces', '--log-level', 'info'],
      /Server listening at/, `agent ${i}`));
    }
    for (const [i, m] of net.members.entries()) actors.push(new Actor(m.ns, `member${i}`));
    for (const [i, p] of PLAN.entries()) {
      const l = await actors[i].listen(net.members[i].address, p.port, { accept: false });
      for (const [from, count] of p.clients) {
        for (let k = 0; k < count; k++) await actors[from].connect([net.members[i].address, p.port]);
      }
      await actors[i].accept(l as ActorSocket, p.clients.reduce((n, [, c]) => n + c, 0));
    }
    const config = path.join(dir, 'prometheus.yml');
    writeFileSync(config, [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: tcpdir',
      `    authorization: { type: Bearer, credentials: ${TOKEN} }`,
      `    static_configs: [{ targets: [${PLAN.map((_, i) => `'${instance(i)}'`).join(', ')}] }]`,
      '',
    ].join('\n'));
    prometheus = await startUntil(['ip', 'netns', 'exec', net.hub, 'prometheus', `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${PROM_PORT}`],
    /Server is ready to receive web requests/, 'prometheus');
  });

  after(async () => {
    await stop(prometheus);
    await Promise.all(agents.map(stop));
    await Promise.all(actors.map((a) => a.stop()));
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every agent is up and scraped with its token', async () => {
    await eventually('up{job="tcpdir"}', perInstance(() => 1));
  });

  test('outbound connections per instance', async () => {
    await eventually('sum by (instance) (tcpdir_connections{direction="OUTBOUND"})', perInstance((i) => EXPECT[i].outbound));
  });

  test('inbound connections per instance, less Prometheus\'s own scrape connection', async () => {
    await eventually('sum by (instance) (tcpdir_connections{direction="INBOUND"}) - on (instance) sum by (instance) (tcpdir_listener_connections{port="4000"})',
      perInstance((i) => EXPECT[i].inbound));
  });

  test('inbound connections per listener', async () => {
    for (const [i, p] of PLAN.entries()) {
      await eventually(`tcpdir_listener_connections{port="${p.port}"}`, { [instance(i)]: EXPECT[i].inbound });
    }
  });

  test('with kernel evidence, every one of them is certain', async (t) => {
    const k = await query('tcpdir_kernel_evidence_available');
    if (Object.values(k).some((v) => v !== 1)) {
      t.skip(`kernel evidence unavailable: ${JSON.stringify(await query('tcpdir_kernel_evidence_unavailable'))}`);
      return;
    }
    await eventually('sum by (instance) (tcpdir_connections{direction="OUTBOUND",certain="true"})', perInstance((i) => EXPECT[i].outbound));
    await eventually('sum by (instance) (tcpdir_connections{direction=~"INBOUND|OUTBOUND",certain="false"})', perInstance(() => 0));
  });
});

function sorted(o: Record<string, number>): Array<[string, number]> {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1));
}
