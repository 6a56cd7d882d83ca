// Scenario definitions: each opens real connections between the agent and remote namespaces
// (or inside the agent) whose direction is known because the scenario itself made them, and
// records the expected direction of every agent-side socket by its 4-tuple.
//
// Addresses (see netns.ts): agent 10.231.0.1 / fd00:231::1, remote 10.231.0.2 / fd00:231::2.
// The agent's ephemeral range is 20000-29999, so 25xxx ports are "inside the ephemeral range";
// 31xxx ports lie outside both it and the kernel default 32768-60999.
// Every scenario uses its own ports so that all of them can also run together in one snapshot.
import type { SourceName, TcpStateName } from '../../src/model';
import { NET, type Actor, type ActorSocket, type Endpoint, type NetnsPair } from './netns';

export type KnownDirection = 'INBOUND' | 'OUTBOUND';

export interface Expectation {
  scenario: string;
  /** Which socket of the scenario, e.g. "accepted child". */
  label: string;
  direction: KnownDirection;
  /** Agent-side endpoints. */
  local: Endpoint;
  remote: Endpoint;
  /** States the socket must be in for the scenario to test what it claims; empty: any. */
  states: TcpStateName[];
  /**
   * Set (to the case of docs/kernel-evidence.md it reproduces) for a socket the kernel rules
   * leave UNKNOWN: with kernel evidence it must get no kernel finding and no certain verdict.
   */
  kernelUnknown: string | null;
  /**
   * Set (to why) for a socket that nothing sock_diag or /proc show can tell from its opposite,
   * so the heuristics are expected to be confidently wrong: without kernel evidence its verdict
   * must still never be `certain`, and the suite lists it instead of failing on it.
   */
  heuristicBlindSpot: string | null;
}

export interface ExpectOptions {
  /** See Expectation.kernelUnknown. */
  kernelUnknown?: string;
  /** See Expectation.heuristicBlindSpot. */
  heuristicBlindSpot?: string;
}

export interface ScenarioContext {
  pair: NetnsPair;
  agent: Actor;
  remote: Actor;
  /** An agent-side socket made by the agent actor. */
  expectAgent(s: ActorSocket, direction: KnownDirection, label: string, states?: TcpStateName[], opts?: ExpectOptions): void;
  /** The agent-side end of a connection whose other end `s` the remote actor holds. */
  expectPeerOf(s: ActorSocket, direction: KnownDirection, label: string, states?: TcpStateName[], opts?: ExpectOptions): void;
}

export interface Scenario<S = unknown> {
  name: string;
  description: string;
  /**
   * True when nothing sock_diag or /proc show settles the direction (a lone connection whose
   * listener closed): without kernel evidence only a confident (>= 0.9) non-UNKNOWN verdict is
   * held to be right. With kernel evidence every socket must be certain and right, except those
   * marked Expectation.kernelUnknown.
   */
  ambiguous?: boolean;
  /** Sources under which the scenario is ambiguous although it is not under the others. */
  ambiguousWith?: SourceName[];
  /** Opens the connections; what it returns is handed to later(). */
  setup(ctx: ScenarioContext): Promise<S>;
  /**
   * Scenarios with memory: tcpdir takes a first snapshot after setup() (keeping history as the
   * service does), then later() runs, and the second snapshot is the one judged.
   */
  later?(ctx: ScenarioContext, state: S): Promise<void>;
}

/** Keeps a scenario's state type checked between setup() and later(). */
function withMemory<S>(s: Scenario<S> & { later(ctx: ScenarioContext, state: S): Promise<void> }): Scenario {
  return s as Scenario;
}

export function isAmbiguous(sc: Scenario, source: SourceName): boolean {
  return !!sc.ambiguous || !!sc.ambiguousWith?.includes(source);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Remote clients connect `n` times to an agent listener, which accepts them all. */
async function inbound(ctx: ScenarioContext, listen: Endpoint, to: Endpoint, n: number,
  opts: { v6only?: boolean | null; reuseport?: boolean; from?: Endpoint } = {}): Promise<{ listener: ActorSocket; clients: ActorSocket[] }> {
  const listener = await ctx.agent.listen(listen[0], listen[1], { v6only: opts.v6only ?? null, reuseport: opts.reuseport });
  const clients: ActorSocket[] = [];
  for (let i = 0; i < n; i++) clients.push(await ctx.remote.connect(to, { bind: opts.from }));
  await ctx.agent.accept(listener, n);
  return { listener, clients };
}

/** The agent connects `n` times to a remote listener. */
async function outbound(ctx: ScenarioContext, listen: Endpoint, to: Endpoint, n: number,
  opts: { bind?: Endpoint; reuseaddr?: boolean } = {}): Promise<ActorSocket[]> {
  await ctx.remote.listen(listen[0], listen[1]);
  const out: ActorSocket[] = [];
  for (let i = 0; i < n; i++) out.push(await ctx.agent.connect(to, { bind: opts.bind, reuseaddr: opts.reuseaddr }));
  return out;
}

function simpleInbound(name: string, description: string, listen: Endpoint, to: Endpoint,
  opts: { v6only?: boolean | null; from?: Endpoint } = {}): Scenario {
  return {
    name,
    description,
    async setup(ctx) {
      const { clients } = await inbound(ctx, listen, to, 1, opts);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['ESTABLISHED']);
    },
  };
}

function simpleOutbound(name: string, description: string, listen: Endpoint, to: Endpoint,
  opts: { bind?: Endpoint; ambiguous?: boolean; ambiguousWith?: SourceName[] } = {}): Scenario {
  return {
    name,
    description,
    ambiguous: opts.ambiguous,
    ambiguousWith: opts.ambiguousWith,
    async setup(ctx) {
      const [c] = await outbound(ctx, listen, to, 1, opts);
      ctx.expectAgent(c, 'OUTBOUND', 'client', ['ESTABLISHED']);
    },
  };
}

// Scenarios marked SYN_ACKED were ambiguous to sock_diag until tcp_info's syn-acked fact (the
// side that connected has its SYN counted in bytes_acked); /proc/net/tcp still has no tcp_info.
const SYN_ACKED: SourceName[] = ['procfs'];

/** One inbound connection whose listener is closed afterwards. */
function loneClosed(name: string, port: number, where: string): Scenario {
  return {
    name,
    description: `one inbound connection to ${where} port ${port}; the listener has closed`,
    ambiguousWith: SYN_ACKED,
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', port], [NET.agentV4, port], 1);
      await ctx.agent.close(listener);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['ESTABLISHED']);
    },
  };
}

/** A loopback connection inside the agent: both ends are agent sockets. */
function loopbackPair(name: string, description: string, addr: string, port: number, closeListener: boolean,
  ambiguous = false): Scenario {
  return {
    name,
    description,
    ambiguousWith: ambiguous ? SYN_ACKED : undefined,
    async setup(ctx) {
      const listener = await ctx.agent.listen(addr, port);
      const client = await ctx.agent.connect([addr, port]);
      const [child] = await ctx.agent.accept(listener, 1);
      if (closeListener) await ctx.agent.close(listener);
      ctx.expectAgent(client, 'OUTBOUND', 'loopback client', ['ESTABLISHED']);
      ctx.expectAgent(child, 'INBOUND', 'loopback accepted child', ['ESTABLISHED']);
    },
  };
}

export const SCENARIOS: Scenario[] = [
  simpleInbound('in-wellknown-80', 'inbound to a wildcard listener on port 80',
    ['0.0.0.0', 80], [NET.agentV4, 80]),
  simpleInbound('in-22-specific-address', 'inbound to a listener bound to 10.231.0.1:22 (not the wildcard)',
    [NET.agentV4, 22], [NET.agentV4, 22]),
  simpleInbound('in-high-8080', 'inbound to a wildcard listener on high port 8080',
    ['0.0.0.0', 8080], [NET.agentV4, 8080]),
  simpleInbound('in-ephemeral-range-port', 'inbound to a listener on 25001, inside the agent ephemeral range',
    ['0.0.0.0', 25001], [NET.agentV4, 25001]),
  simpleInbound('in-ipv6-v6only', 'IPv6 inbound to a V6ONLY [::]:8086 listener',
    ['::', 8086], [NET.agentV6, 8086], { v6only: true }),
  simpleInbound('in-ipv6-specific', 'IPv6 inbound to a listener bound to [fd00:231::1]:8096',
    [NET.agentV6, 8096], [NET.agentV6, 8096]),
  simpleInbound('in-dualstack-v4-client', 'IPv4 client of a dual-stack [::]:8087 listener (peer is ::ffff:10.231.0.2)',
    ['::', 8087], [NET.agentV4, 8087], { v6only: false }),
  // To sock_diag this child is an SO_REUSEPORT client on the listener's port reaching a
  // well-known service (out-reuseport-client's kind): the listener counts less when the peer's
  // port is below 1024, and this is UNKNOWN rather than a confident guess.
  { ...simpleInbound('in-from-low-source-port', 'inbound to 8099 from a remote client bound to source port 900',
    ['0.0.0.0', 8099], [NET.agentV4, 8099], { from: [NET.remoteV4, 900] }), ambiguousWith: SYN_ACKED },
  {
    name: 'in-reuseport',
    description: 'four inbound connections spread over two SO_REUSEPORT listeners on 8088',
    async setup(ctx) {
      const a = await ctx.agent.listen('0.0.0.0', 8088, { reuseport: true });
      const b = await ctx.agent.listen('0.0.0.0', 8088, { reuseport: true });
      const clients: ActorSocket[] = [];
      for (let i = 0; i < 4; i++) clients.push(await ctx.remote.connect([NET.agentV4, 8088]));
      // Children land on either listener; wait until both together have accepted all four.
      for (let t = 0; ; t++) {
        const n = (await ctx.agent.accept(a, 0)).length + (await ctx.agent.accept(b, 0)).length;
        if (n >= 4) break;
        if (t > 200) throw new Error(`in-reuseport: only ${n} of 4 connections accepted`);
        await sleep(10);
      }
      for (const c of clients) ctx.expectPeerOf(c, 'INBOUND', 'accepted child', ['ESTABLISHED']);
    },
  },
  {
    name: 'in-listener-closed-many',
    description: 'three inbound connections to 8089; the listener has closed since',
    // A shared local endpoint with no listener is also what SO_REUSEADDR clients bound to one port
    // and reaching several services look like (out-reuseaddr-shared-port): not settled.
    ambiguousWith: SYN_ACKED,
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', 8089], [NET.agentV4, 8089], 3);
      await ctx.agent.close(listener);
      for (const c of clients) ctx.expectPeerOf(c, 'INBOUND', 'accepted child', ['ESTABLISHED']);
    },
  },
  {
    name: 'in-listener-closed-many-ephemeral',
    description: 'three inbound connections to 25005 (inside the ephemeral range); the listener has closed since',
    // The shared endpoint says inbound, the port inside the ephemeral range says outbound.
    ambiguousWith: SYN_ACKED,
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', 25005], [NET.agentV4, 25005], 3);
      await ctx.agent.close(listener);
      for (const c of clients) ctx.expectPeerOf(c, 'INBOUND', 'accepted child', ['ESTABLISHED']);
    },
  },
  loneClosed('in-lone-closed-low', 25, 'low'),
  loneClosed('in-lone-closed-high', 8090, 'high'),
  loneClosed('in-lone-closed-ephemeral', 25002, 'in-ephemeral-range'),
  simpleOutbound('out-wellknown-80', 'outbound to the remote port 80',
    ['0.0.0.0', 80], [NET.remoteV4, 80]),
  simpleOutbound('out-high-9000', 'outbound to the remote port 9000',
    ['0.0.0.0', 9000], [NET.remoteV4, 9000]),
  simpleOutbound('out-ipv6', 'IPv6 outbound to [fd00:231::2]:9002',
    ['::', 9002], [NET.remoteV6, 9002]),
  simpleOutbound('out-to-port-in-agent-range', 'outbound to remote port 25003, which lies inside the agent ephemeral range',
    ['0.0.0.0', 25003], [NET.remoteV4, 25003]),
  // A client that bound a fixed port looks, in a snapshot, exactly like the lone child of a
  // listener that has closed: only eBPF (sk_userlocks), tcp_info (syn-acked) or memory tells them apart.
  simpleOutbound('out-bind-low-port', 'outbound from a client that bound source port 700 before connect()',
    ['0.0.0.0', 9003], [NET.remoteV4, 9003], { bind: [NET.agentV4, 700], ambiguousWith: SYN_ACKED }),
  // Active-mode FTP data: the server connects from its bound port 20 to the client's high data
  // port. Every port hint reads inbound (low port, outside the range, client-range peer); without
  // the no-listener bound the heuristics called it INBOUND at 0.90.
  simpleOutbound('out-active-ftp-data', 'an active-mode FTP data connection: bound source port 20, to the peer\'s high port 45123',
    ['0.0.0.0', 45123], [NET.remoteV4, 45123], { bind: [NET.agentV4, 20], ambiguousWith: SYN_ACKED }),
  simpleOutbound('out-bind-high-port', 'outbound from a client that bound source port 31001 (outside the ephemeral range)',
    ['0.0.0.0', 9006], [NET.remoteV4, 9006], { bind: ['0.0.0.0', 31001], ambiguousWith: SYN_ACKED }),
  {
    name: 'out-reuseaddr-shared-port',
    description: 'two SO_REUSEADDR clients bound to the same local port 31000, to two remote ports',
    // Mirror image of in-listener-closed-many: a shared local endpoint without a listener.
    ambiguousWith: SYN_ACKED,
    async setup(ctx) {
      await ctx.remote.listen('0.0.0.0', 9004);
      await ctx.remote.listen('0.0.0.0', 9005);
      const a = await ctx.agent.connect([NET.remoteV4, 9004], { bind: ['0.0.0.0', 31000], reuseaddr: true });
      const b = await ctx.agent.connect([NET.remoteV4, 9005], { bind: ['0.0.0.0', 31000], reuseaddr: true });
      ctx.expectAgent(a, 'OUTBOUND', 'client 1', ['ESTABLISHED']);
      ctx.expectAgent(b, 'OUTBOUND', 'client 2', ['ESTABLISHED']);
    },
  },
  {
    name: 'out-pool',
    description: 'a pool of four outbound connections to the same remote endpoint 9007',
    async setup(ctx) {
      for (const c of await outbound(ctx, ['0.0.0.0', 9007], [NET.remoteV4, 9007], 4)) {
        ctx.expectAgent(c, 'OUTBOUND', 'pool client', ['ESTABLISHED']);
      }
    },
  },
  {
    name: 'out-port-of-other-address-listener',
    description: 'outbound from 10.231.0.1:8081 while 127.0.0.1:8081 listens (a port-only listener match is wrong)',
    // No listener covers 10.231.0.1:8081, so this is shaped like a lone child of a closed one.
    ambiguousWith: SYN_ACKED,
    async setup(ctx) {
      await ctx.agent.listen('127.0.0.1', 8081);
      await ctx.remote.listen('0.0.0.0', 9012);
      const c = await ctx.agent.connect([NET.remoteV4, 9012], { bind: [NET.agentV4, 8081] });
      ctx.expectAgent(c, 'OUTBOUND', 'client', ['ESTABLISHED']);
    },
  },
  loopbackPair('loopback-pair', 'both ends of a 127.0.0.1:8091 connection, listener open', '127.0.0.1', 8091, false),
  loopbackPair('loopback-pair-v6', 'both ends of a [::1]:8097 connection, listener open', '::1', 8097, false),
  loopbackPair('loopback-pair-listener-closed', 'both ends of a 127.0.0.1:8092 connection; the listener has closed',
    '127.0.0.1', 8092, true),
  loopbackPair('loopback-pair-listener-closed-ephemeral',
    'both ends of a 127.0.0.1:25004 connection (both ports in the ephemeral range); the listener has closed',
    '127.0.0.1', 25004, true, true),
  {
    name: 'in-accept-queue',
    description: 'an inbound connection still in the accept queue of a listener on 8093 that never accepts',
    async setup(ctx) {
      await ctx.agent.listen('0.0.0.0', 8093, { accept: false });
      const c = await ctx.remote.connect([NET.agentV4, 8093]);
      ctx.expectPeerOf(c, 'INBOUND', 'queued child', ['ESTABLISHED']);
    },
  },
  {
    name: 'out-syn-sent',
    description: 'outbound SYN_SENT to an on-link IPv4 address whose frames go to a dead MAC',
    async setup(ctx) {
      const c = await ctx.agent.connect([NET.deadV4, 9008], { nonblocking: true });
      ctx.expectAgent(c, 'OUTBOUND', 'connecting client', ['SYN_SENT']);
    },
  },
  {
    name: 'out-syn-sent-v6',
    description: 'outbound SYN_SENT to an on-link IPv6 address whose frames go to a dead MAC',
    async setup(ctx) {
      const c = await ctx.agent.connect([NET.deadV6, 9009], { nonblocking: true });
      ctx.expectAgent(c, 'OUTBOUND', 'connecting client', ['SYN_SENT']);
    },
  },
  {
    name: 'in-syn-recv',
    description: 'inbound half-open connection to 8094: the agent SYN-ACKs a remote address it cannot reach',
    async setup(ctx) {
      await ctx.agent.listen('0.0.0.0', 8094);
      const c = await ctx.remote.connect([NET.agentV4, 8094], { bind: [NET.remoteV4Mute, 0], nonblocking: true });
      // The request socket appears once the SYN crossed the veth.
      await sleep(50);
      ctx.expectPeerOf(c, 'INBOUND', 'request socket', ['SYN_RECV', 'NEW_SYN_RECV']);
    },
  },
  {
    name: 'in-time-wait',
    description: 'inbound connection to 8095 that the agent closed first (agent side in TIME_WAIT)',
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', 8095], [NET.agentV4, 8095], 1);
      const [child] = await ctx.agent.accept(listener, 1);
      await ctx.agent.close(child);
      await sleep(20);
      await ctx.remote.close(clients[0]);
      await sleep(50);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'closed child', ['TIME_WAIT']);
    },
  },
  {
    name: 'out-time-wait',
    description: 'outbound connection to 9010 that the agent closed first (agent side in TIME_WAIT)',
    async setup(ctx) {
      const l = await ctx.remote.listen('0.0.0.0', 9010);
      const c = await ctx.agent.connect([NET.remoteV4, 9010]);
      const [child] = await ctx.remote.accept(l, 1);
      await ctx.agent.close(c);
      await sleep(20);
      await ctx.remote.close(child);
      await sleep(50);
      ctx.expectAgent(c, 'OUTBOUND', 'closed client', ['TIME_WAIT']);
    },
  },
  {
    name: 'in-close-wait',
    description: 'inbound connection to 8098 that the remote client closed (agent side in CLOSE_WAIT)',
    async setup(ctx) {
      const { clients } = await inbound(ctx, ['0.0.0.0', 8098], [NET.agentV4, 8098], 1);
      await ctx.remote.close(clients[0]);
      await sleep(50);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['CLOSE_WAIT']);
    },
  },
  withMemory({
    name: 'hist-listener-closed-after-seen',
    description: 'one inbound connection to 8100; tcpdir saw the listener, which closed before the judged snapshot',
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', 8100], [NET.agentV4, 8100], 1);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['ESTABLISHED']);
      return listener;
    },
    async later(ctx, listener) {
      await ctx.agent.close(listener);
    },
  }),
  withMemory({
    name: 'hist-listener-closed-after-seen-ephemeral',
    description: 'one inbound connection to 25006 (ephemeral range); tcpdir saw the listener, which closed before the judged snapshot',
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', 25006], [NET.agentV4, 25006], 1);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['ESTABLISHED']);
      return listener;
    },
    async later(ctx, listener) {
      await ctx.agent.close(listener);
    },
  }),
  withMemory({
    name: 'hist-listener-after-first-snapshot',
    description: 'listener on 8102 bound after tcpdir\'s first snapshot (the startup race), then one inbound connection',
    async setup() {
      /* nothing yet: the first snapshot sees no listener on 8102 */
    },
    async later(ctx) {
      const { clients } = await inbound(ctx, ['0.0.0.0', 8102], [NET.agentV4, 8102], 1);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['ESTABLISHED']);
    },
  }),
  withMemory({
    name: 'hist-bound-client-seen-syn-sent',
    description: 'client bound to port 31002 seen in SYN_SENT by the first snapshot, ESTABLISHED in the judged one',
    // Handshake memory is keyed by kernel cookie, which /proc/net/tcp does not have.
    ambiguousWith: ['procfs'],
    async setup(ctx) {
      await ctx.remote.listen('0.0.0.0', 9013);
      return ctx.agent.connect([NET.remoteV4Late, 9013], { bind: ['0.0.0.0', 31002], nonblocking: true });
    },
    async later(ctx, c) {
      // Let the SYN through: the next retransmission (RTO 1 s) completes the handshake.
      await ctx.pair.exec(ctx.pair.agent, ['ip', 'neigh', 'del', NET.remoteV4Late, 'dev', 'eth0']);
      await ctx.agent.waitConnected(c, 15);
      ctx.expectAgent(c, 'OUTBOUND', 'client', ['ESTABLISHED']);
    },
  }),
  {
    name: 'out-reuseport-client',
    description: 'an SO_REUSEPORT client bound to port 8110, where an SO_REUSEPORT listener with one inbound child also sits',
    // In a snapshot the client shares the listener's port like a child of it; only the kernel's
    // SOCK_BINDPORT_LOCK (children never carry it) tells them apart.
    ambiguous: true,
    async setup(ctx) {
      const { clients } = await inbound(ctx, ['0.0.0.0', 8110], [NET.agentV4, 8110], 1, { reuseport: true });
      await ctx.remote.listen('0.0.0.0', 9014);
      const c = await ctx.agent.connect([NET.remoteV4, 9014], { bind: ['0.0.0.0', 8110], reuseport: true });
      ctx.expectPeerOf(clients[0], 'INBOUND', 'accepted child', ['ESTABLISHED']);
      ctx.expectAgent(c, 'OUTBOUND', 'reuseport client', ['ESTABLISHED'], {
        heuristicBlindSpot: 'an SO_REUSEPORT client on a live listener\'s address and port is, to sock_diag, one more child of it',
      });
    },
  },
  {
    name: 'out-bind-port-zero',
    description: 'outbound from a client that did bind(10.231.0.1, 0) before connect() (bind chose the port)',
    async setup(ctx) {
      const [c] = await outbound(ctx, ['0.0.0.0', 9015], [NET.remoteV4, 9015], 1, { bind: [NET.agentV4, 0] });
      ctx.expectAgent(c, 'OUTBOUND', 'client', ['ESTABLISHED'],
        { kernelUnknown: 'a client that did bind(addr, 0) then connect(): no connect-bind, no port lock, no connect bucket' });
    },
  },
  {
    name: 'in-lone-closed-listen0',
    description: 'one inbound connection to 8111 accepted by a listen(0) listener that has closed since',
    ambiguousWith: SYN_ACKED,
    async setup(ctx) {
      const listener = await ctx.agent.listen('0.0.0.0', 8111, { backlog: 0 });
      const c = await ctx.remote.connect([NET.agentV4, 8111]);
      await ctx.agent.accept(listener, 1);
      await ctx.agent.close(listener);
      ctx.expectPeerOf(c, 'INBOUND', 'accepted child', ['ESTABLISHED'],
        { kernelUnknown: 'a child of a closed listen(0) listener inherits a backlog of 0' });
    },
  },
  {
    name: 'in-time-wait-listener-closed',
    description: 'inbound connection to 8112 that the agent closed first (TIME_WAIT); the listener has closed since',
    ambiguous: true,
    async setup(ctx) {
      const { listener, clients } = await inbound(ctx, ['0.0.0.0', 8112], [NET.agentV4, 8112], 1);
      const [child] = await ctx.agent.accept(listener, 1);
      await ctx.agent.close(child);
      await sleep(20);
      await ctx.remote.close(clients[0]);
      await ctx.agent.close(listener);
      await sleep(50);
      ctx.expectPeerOf(clients[0], 'INBOUND', 'closed child', ['TIME_WAIT'],
        { kernelUnknown: 'TIME_WAIT of a child whose listener is gone: no tw_connect_bind, no live listener bucket' });
    },
  },
  {
    name: 'out-time-wait-bound',
    description: 'outbound connection from port 31003 (bound explicitly) to 9016, closed first by the agent (TIME_WAIT)',
    ambiguous: true,
    async setup(ctx) {
      const l = await ctx.remote.listen('0.0.0.0', 9016);
      const c = await ctx.agent.connect([NET.remoteV4, 9016], { bind: ['0.0.0.0', 31003] });
      const [child] = await ctx.remote.accept(l, 1);
      await ctx.agent.close(c);
      await sleep(20);
      await ctx.remote.close(child);
      await sleep(50);
      ctx.expectAgent(c, 'OUTBOUND', 'closed bound client', ['TIME_WAIT'],
        { kernelUnknown: 'TIME_WAIT of an explicitly bound client: tw_connect_bind is 0, like that of an accepted child' });
    },
  },
  {
    name: 'out-fin-wait2',
    description: 'outbound connection to 9011 that the agent half-closed (agent side in FIN_WAIT2)',
    async setup(ctx) {
      const [c] = await outbound(ctx, ['0.0.0.0', 9011], [NET.remoteV4, 9011], 1);
      await ctx.agent.shutdown(c, 'wr');
      await sleep(50);
      ctx.expectAgent(c, 'OUTBOUND', 'half-closed client', ['FIN_WAIT2']);
    },
  },
];
