// Peer agents settle each other's verdicts (--peers). Three namespace hosts on a bridge
// (bridge.ts), agents without kernel evidence or conntrack: heuristics only. A listener on A
// (a port inside the ephemeral range, so port numbers cannot tell) accepts a connection from B,
// then closes: A's child is a lone connection. B's agent, running while B connected, saw its
// socket in SYN_SENT (A's accept queue was held full by a filler connection from C, so B's SYN
// waited for a retransmit): B is certain on its own. Asked alone, A's agent is not sure (below
// 0.9 at best, from tcp_info's syn-acked); with
// --peers it asks B's agent and is certain and right (rule peer-agent). C's address is mapped
// to an address nobody answers on: a note, and the answer still comes within the timeout. A
// connection from A to a live listener on B: B is sure (0.98) but not certain, and its word only
// nudges A's UNKNOWN to a bounded OUTBOUND.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { startUntil, stop } from '../helpers/processes';
import { createBridged, nodeIn, type Bridged } from './bridge';
import { Actor, REPO_ROOT, unsupportedReason, type ActorSocket } from './netns';

const skip = unsupportedReason();
if (skip) console.log(`# peers suite skipped: ${skip}`);

const TOKEN = 'peers-scenario-token';
const PLAIN = 4000; // agents without peers
const PEERED = 4001; // agents with --peers
const BY_NAME = 4002; // an agent whose --peers is one DNS name for every agent
const AGENTS_NAME = 'tcpdir-agents.peers.test';
const PEER_TIMEOUT_MS = 300;
// Inside Linux's ephemeral range (32768-60999), as the client's own port is: the ports say nothing.
const PORT = 40000 + Math.floor(Math.random() * 10000);

interface Verdict {
  direction: string;
  confidence: number;
  certain: boolean;
  evidence: Array<{ rule: string; favors: string; weight: number; conclusive: boolean; detail: string }>;
}

describe('peer agents settle each other\'s verdicts', { skip: skip ?? false, timeout: 120_000 }, () => {
  let net: Bridged;
  const agents: ChildProcess[] = [];
  const actors: Actor[] = [];
  let clientPort = 0;
  let fillerPort = 0;
  let toLive: ActorSocket;
  const addr = (i: number) => net.members[i].address;

  const agent = async (i: number, port: number, extra: string[]) => {
    agents.push(await startUntil(['ip', 'netns', 'exec', net.members[i].ns, process.execPath, path.join(REPO_ROOT, 'bin', 'tcpdir.js'), 'serve',
      '--host', addr(i), '--port', String(port), '--token', TOKEN, '--no-all-namespaces', '--no-kernel-evidence', '--no-conntrack',
      '--no-history', '--max-age-ms', '100', ...extra], /Server listening at/, `agent ${i}:${port}`));
  };

  /** A GraphQL request to member i's agent, sent from the hub: [answer, milliseconds]. */
  const gql = async (i: number, port: number, query: string): Promise<[{ data?: Record<string, unknown>; errors?: unknown[] }, number]> => {
    const script = `const t = performance.now(); fetch(${JSON.stringify(`http://${addr(i)}:${port}/graphql`)}, { method: 'POST', ` +
      `headers: { 'content-type': 'application/json', authorization: 'Bearer ${TOKEN}' }, body: ${JSON.stringify(JSON.stringify({ query }))} })` +
      '.then((r) => r.json()).then((b) => process.stdout.write(JSON.stringify([b, performance.now() - t])))';
    return JSON.parse(await nodeIn(net.hub, script)) as [{ data?: Record<string, unknown> }, number];
  };
  const verdict = async (i: number, port: number, lp: number, j: number, rp: number): Promise<[Verdict, number]> => {
    const [b, ms] = await gql(i, port, `{ verdict(localAddress: "${addr(i)}", localPort: ${lp}, remoteAddress: "${addr(j)}", remotePort: ${rp}) ` +
      '{ direction confidence certain evidence { rule favors weight conclusive detail } } }');
    assert.equal(b.errors, undefined, JSON.stringify(b.errors));
    assert.ok(b.data?.verdict, `agent ${i}:${port} has no connection ${lp} -> ${addr(j)}:${rp}`);
    return [b.data.verdict as Verdict, ms];
  };

  before(async () => {
    net = createBridged(3);
    for (const [i, m] of net.members.entries()) actors.push(new Actor(m.ns, `member${i}`));
    // B's agent runs while B connects (as an agent on a real host would).
    await agent(1, PEERED, ['--peers', `http://${addr(0)}:${PEERED}`, '--peer-token', TOKEN]);
    // backlog 0: the accept queue holds one child, so C's filler makes B's SYN wait.
    const l = await actors[0].listen(addr(0), PORT, { backlog: 0, accept: false });
    fillerPort = ((await actors[2].connect([addr(0), PORT])).local as [string, number])[1];
    const client = await actors[1].connect([addr(0), PORT], { nonblocking: true });
    clientPort = (client.local as [string, number])[1];
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [b] = await gql(1, PEERED, `{ connections(state: SYN_SENT, remotePort: ${PORT}) { local { port } } }`);
      if (JSON.stringify(b.data?.connections ?? []).includes(String(clientPort))) break;
      assert.ok(Date.now() < deadline, `B's agent never saw ${clientPort} in SYN_SENT: ${JSON.stringify(b)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Room in the queue: B's retransmitted SYN completes. Then the listener closes, its children stay.
    await actors[0].call('accept', { h: l.h, expect: 2, timeout: 15 });
    await actors[1].waitConnected(client);
    await actors[0].close(l as ActorSocket);
    // A connection from A to B's live listener: B's verdict is strong but not certain (a live
    // listener is not proof), so it may only nudge A's.
    const live = await actors[1].listen(addr(1), PORT + 1, { accept: false });
    toLive = await actors[0].connect([addr(1), PORT + 1]);
    await actors[1].accept(live, 1);
    // Agents that never saw the listener: A's child is lone.
    await agent(0, PLAIN, []);
    await agent(1, PLAIN, []);
    // C's address goes to an address on the bridge nobody has: ARP never resolves, the request hangs.
    await agent(0, PEERED, ['--peers', `http://${addr(1)}:${PEERED},${addr(2)}=http://10.77.0.99:${PEERED}`, '--peer-token', TOKEN,
      '--peer-timeout-ms', String(PEER_TIMEOUT_MS)]);
    // One name for every agent, as a headless Service gives: \`ip netns exec\` mounts
    // /etc/netns/NS/hosts over /etc/hosts, so A's resolver finds the name there (its resolv.conf
    // points at nothing, so no query leaves the namespace). A is one of the three addresses.
    const etc = path.join('/etc/netns', net.members[0].ns);
    mkdirSync(etc, { recursive: true });
    writeFileSync(path.join(etc, 'hosts'), ['127.0.0.1 localhost', ...[0, 1, 2].map((i) => `${addr(i)} ${AGENTS_NAME}`), ''].join('\n'));
    writeFileSync(path.join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    await agent(0, BY_NAME, ['--peers', `http://${AGENTS_NAME}:${PEERED}`, '--peer-token', TOKEN]);
  });

  after(async () => {
    await Promise.all(agents.map(stop));
    await Promise.all(actors.map((a) => a.stop()));
    if (net) rmSync(path.join('/etc/netns', net.members[0].ns), { recursive: true, force: true });
    net?.destroy();
  });

  test('alone, neither agent can tell', async () => {
    const [a] = await verdict(0, PLAIN, PORT, 1, clientPort);
    const [b] = await verdict(1, PLAIN, clientPort, 0, PORT);
    for (const v of [a, b]) {
      assert.equal(v.certain, false, JSON.stringify(v));
      assert.ok(!v.evidence.some((e) => e.rule === 'peer-agent'), JSON.stringify(v));
    }
    // A's lone child of a closed listener: tcp_info's syn-acked leans it INBOUND, held below 0.9
    // (a client restored by CRIU would read the same). B's side may lean hard, never certain.
    assert.ok(a.direction === 'UNKNOWN' || a.confidence < 0.9, JSON.stringify(a));
  });

  test('a peer that does not answer is a note, within the timeout', async () => {
    const [v, ms] = await verdict(0, PEERED, PORT, 2, fillerPort);
    assert.equal(v.certain, false, JSON.stringify(v));
    const note = v.evidence.find((x) => x.rule === 'peer-agent');
    assert.ok(note && note.weight === 0 && note.favors === 'UNKNOWN', JSON.stringify(v.evidence));
    assert.match(note.detail, /unreachable/);
    // The agent's first snapshot: its collection, the peer's timeout and the rest; an ARP failure alone takes 3 s.
    assert.ok(ms < PEER_TIMEOUT_MS + 1500, `answered after ${ms} ms`);
  });

  test('an uncertain far side only nudges this side, within its bound', async () => {
    const lp = (toLive.local as [string, number])[1];
    const [alone] = await verdict(0, PLAIN, lp, 1, PORT + 1);
    const [v] = await verdict(0, PEERED, lp, 1, PORT + 1);
    assert.equal(v.certain, false, JSON.stringify(v));
    assert.notEqual(v.direction, 'INBOUND', JSON.stringify(v));
    const e = v.evidence.find((x) => x.rule === 'peer-agent');
    assert.ok(e && !e.conclusive && e.favors === 'OUTBOUND' && e.weight > 0 && e.weight <= 1, JSON.stringify(v.evidence));
    assert.ok(!alone.evidence.some((x) => x.rule === 'peer-agent'));
  });

  test('with peers, both ends are certain and right', async () => {
    const [a] = await verdict(0, PEERED, PORT, 1, clientPort);
    assert.equal(a.direction, 'INBOUND', JSON.stringify(a));
    assert.equal(a.certain, true);
    const e = a.evidence.find((x) => x.rule === 'peer-agent');
    assert.ok(e?.conclusive && e.favors === 'INBOUND', JSON.stringify(a.evidence));
    assert.match(e.detail, new RegExp(`${addr(1)}:${PEERED}.*certain OUTBOUND`));
    // B's own evidence (the handshake it saw) settles it; asked by A, it answered from that alone.
    const [b] = await verdict(1, PEERED, clientPort, 0, PORT);
    assert.equal(b.direction, 'OUTBOUND', JSON.stringify(b));
    assert.equal(b.certain, true);
  });

  test('one DNS name for every agent: the same certain verdict, asked of the agent at the right address', async () => {
    const [a] = await verdict(0, BY_NAME, PORT, 1, clientPort);
    assert.equal(a.direction, 'INBOUND', JSON.stringify(a));
    assert.equal(a.certain, true);
    const e = a.evidence.find((x) => x.rule === 'peer-agent');
    assert.ok(e?.conclusive, JSON.stringify(a.evidence));
    assert.match(e.detail, new RegExp(`${addr(1)}:${PEERED}.*certain OUTBOUND`));
  });
});
