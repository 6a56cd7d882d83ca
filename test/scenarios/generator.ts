// Scenario generator: from a seed, many labelled sockets across several network namespaces
// joined by one bridge, each namespace with its own random ip_local_port_range. Agents (the
// namespaces tcpdir looks at, one collector each) hold servers and clients of every kind the
// hand-written suite has, drawn at random: explicit binds, low ports, fixed source ports,
// SO_REUSEADDR/SO_REUSEPORT sharing, servers inside the ephemeral range, listeners that close
// (before tcpdir started, after it saw them, or between two of its snapshots), pre-existing and
// live sockets. The peers are other agents and "remote" namespaces.
//
// Timeline (tcpdir's collectors keep history, as the server does):
//   pre    sockets opened before tcpdir starts (some listeners closed already)
//   snap 1 tcpdir starts
//   live   sockets opened while it runs
//   snap 2 sees the live listeners
//   late   seen listeners close; short-lived listeners open, accept and close between snapshots
//   end    closes that leave TIME_WAIT / CLOSE_WAIT / FIN_WAIT2
//   snap 3 the judged one
//
// TCPDIR_GEN_SEED replays a run; the seed is printed by every caller.
import { execFileSync } from 'node:child_process';
import type { TcpStateName } from '../../src/model';
import { createBridged } from './bridge';
import { Actor, ip, type ActorSocket, type Endpoint } from './netns';
import { MemoryCollector, runName, tupleKey, type CollectRun, type Observation } from './runner';
import type { CollectedRow } from './collect';
import type { Expectation, KnownDirection, Scenario } from './scenarios';

export interface GenOptions {
  seed: number;
  /** Rough number of agent-side labelled sockets to make. */
  sockets: number;
  agents?: number;
  remotes?: number;
  runs: CollectRun[];
  log?: (line: string) => void;
}

/** The seed: TCPDIR_GEN_SEED when set (a failure prints it), else `fallback`. */
export function seedFromEnv(fallback: number): number {
  const v = process.env.TCPDIR_GEN_SEED;
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`TCPDIR_GEN_SEED must be an integer 0..4294967295, not ${v}`);
  return n;
}

/** mulberry32: small, fast, and the same sequence on every platform for one seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Phase = 'pre' | 'live' | 'late' | 'end';

/** One generated class of socket: what the bench groups by. */
export interface GenClass {
  name: string;
  direction: KnownDirection;
  description: string;
}

interface Host {
  ns: string;
  address: string;
  address6: string;
  range: { low: number; high: number };
  actor: Actor;
  used: Set<number>;
  agent: boolean;
}

interface Label {
  cls: string;
  direction: KnownDirection;
  timing: 'pre' | 'live';
  fam: Fam['name'];
  states: TcpStateName[];
  kernelUnknown: string | null;
  heuristicBlindSpot: string | null;
}

const WELL_KNOWN = [21, 22, 25, 53, 80, 110, 143, 389, 443, 465, 514, 587, 636, 873, 993, 995];
const SERVICES = [1433, 1883, 2049, 3000, 3306, 5000, 5432, 5672, 6379, 6443, 8000, 8080, 8443, 9000, 9090, 9200, 11211, 27017];

class Gen {
  private readonly r: () => number;
  readonly labels = new Map<string, Label>(); // `${agent ns}|${handle}`
  private readonly steps: Record<Phase, Array<() => Promise<void>>> = { pre: [], live: [], late: [], end: [] };
  count = 0;
  /** Children left in an accept queue have no actor handle: their tuple is the peer socket's, mirrored. */
  readonly queued: Array<{ agent: Host; peerSock: ActorSocket; label: Label }> = [];

  constructor(seed: number, readonly agents: Host[], readonly remotes: Host[]) {
    this.r = rng(seed ^ 0x9e3779b9);
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.r() * a.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  /** A free port of `kind` on `h`; `retry` picks another when a bind says it is taken. */
  port(h: Host, kind: 'low' | 'service' | 'high' | 'inrange' | 'client-high'): number {
    for (let t = 0; t < 1000; t++) {
      let p: number;
      switch (kind) {
        case 'low': p = this.chance(0.5) ? this.pick(WELL_KNOWN) : this.int(600, 1023); break;
        case 'service': p = t < 50 ? this.pick(SERVICES) : this.int(1024, 32767); break; // all taken: an unregistered one
        case 'high': p = this.int(1024, 65000); break;
        case 'client-high': p = this.int(32768, 65000); break;
        case 'inrange': p = this.int(h.range.low, h.range.high); break;
      }
      const inRange = p >= h.range.low && p <= h.range.high;
      if ((kind === 'high' || kind === 'service' || kind === 'low') && inRange) continue;
      if (kind === 'client-high' && inRange) continue;
      if (h.used.has(p)) continue;
      h.used.add(p);
      return p;
    }
    throw new Error(`no free ${kind} port left in ${h.ns}`);
  }

  label(h: Host, s: ActorSocket, l: Label): void {
    this.labels.set(`${h.ns}|${s.h}`, l);
    this.count++;
  }

  at(phase: Phase, fn: () => Promise<void>): void {
    this.steps[phase].push(fn);
  }

  async runPhase(phase: Phase): Promise<void> {
    for (const fn of this.steps[phase]) await fn();
  }

  /** A peer for an agent: another agent (both ends labelled) or a remote. */
  peer(a: Host): Host {
    const others = this.agents.filter((x) => x !== a);
    return others.length > 0 && this.chance(0.3) ? this.pick(others) : this.pick(this.remotes);
  }
}

/**
 * The address family of one unit: IPv4; IPv6; or IPv4 clients of dual-stack `::` listeners,
 * whose children the kernel holds as `::ffff:a.b.c.d` (AF_INET6).
 */
interface Fam {
  name: 'v4' | 'v6' | 'mapped';
  /** Wildcard to listen on. */
  any: string;
  /** Loopback to connect to. */
  lo: string;
  /** V6ONLY for `::` listeners (null: the system default, dual-stack). */
  v6only: boolean | null;
  /** The address to reach host h at (and that its bound clients bind). */
  at(h: Host): string;
  /** h's own address as a listener binds it specifically. */
  own(h: Host): string;
}

const V4: Fam = { name: 'v4', any: '0.0.0.0', lo: '127.0.0.1', v6only: null, at: (h) => h.address, own: (h) => h.address };

function family(g: Gen): Fam {
  if (g.chance(0.7)) return V4;
  if (g.chance(0.5)) return { name: 'v6', any: '::', lo: '::1', v6only: g.chance(0.5), at: (h) => h.address6, own: (h) => h.address6 };
  return { name: 'mapped', any: '::', lo: '127.0.0.1', v6only: false, at: (h) => h.address, own: (h) => `::ffff:${h.address}` };
}

/** Listens on a fresh port of `kind`, retrying on EADDRINUSE (ephemeral clients took it). */
async function listenFresh(g: Gen, F: Fam, h: Host, kind: Parameters<Gen['port']>[1], opts: { addr?: string; reuseport?: boolean; backlog?: number; accept?: boolean } = {}): Promise<ActorSocket> {
  for (let t = 0; ; t++) {
    const p = g.port(h, kind);
    const addr = opts.addr ?? F.any;
    try {
      return await h.actor.listen(addr, p, { reuseport: opts.reuseport, backlog: opts.backlog, accept: opts.accept, v6only: addr === '::' ? F.v6only : null });
    } catch (e) {
      if (t > 20 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

async function connectBound(g: Gen, F: Fam, h: Host, to: Endpoint, kind: Parameters<Gen['port']>[1], opts: { reuseaddr?: boolean; port?: number } = {}): Promise<ActorSocket> {
  for (let t = 0; ; t++) {
    const p = opts.port ?? g.port(h, kind);
    try {
      return await h.actor.connect(to, { bind: [F.at(h), p], reuseaddr: opts.reuseaddr });
    } catch (e) {
      if (opts.port !== undefined || t > 20 || !/Address already in use/.test((e as Error).message)) throw e;
    }
  }
}

/**
 * Plans one unit of class `cls` on agent `a`: its steps are queued by phase. Every agent-side
 * socket it makes is labelled.
 */
function plan(g: Gen, a: Host): void {
  const timing: 'pre' | 'live' = g.chance(0.5) ? 'pre' : 'live';
  let F = family(g);
  const L = (cls: string, direction: KnownDirection, extra: Partial<Label> = {}): Label =>
    ({ cls, direction, timing, fam: F.name, states: ['ESTABLISHED'], kernelUnknown: null, heuristicBlindSpot: null, ...extra });
  const open = timing === 'pre' ? 'pre' : 'live';
  const p = g.peer(a);
  const kinds = [
    'in-listener', 'in-listener', 'in-listener', 'in-listener-inrange', 'in-reuseport', 'in-closed', 'in-closed-inrange',
    'in-closed-between', 'in-from-bound-port', 'in-time-wait', 'in-close-wait', 'in-listen0-closed', 'in-queued',
    'out-ephemeral', 'out-ephemeral', 'out-ephemeral', 'out-ephemeral', 'out-to-peer-range', 'out-bound-low', 'out-active-ftp',
    'out-bound-fixed', 'out-bound-inrange', 'out-reuseaddr', 'out-reuseport-client', 'out-bind-zero',
    'out-other-address-listener', 'out-time-wait', 'out-time-wait-bound', 'out-fin-wait2', 'loopback', 'loopback-closed',
  ] as const;
  const kind = g.pick(kinds);
  // An IPv4 client cannot share a dual-stack listener's port: that unit stays IPv4.
  if (kind === 'out-reuseport-client' && F.name === 'mapped') F = V4;
  const children = async (l: ActorSocket, n: number, label: Label, from?: Parameters<Gen['port']>[1]): Promise<ActorSocket[]> => {
    const remotes: ActorSocket[] = [];
    for (let i = 0; i < n; i++) {
      remotes.push(from ? await connectBound(g, F, p, [F.at(a), l.local![1]], from) : await p.actor.connect([F.at(a), l.local![1]]));
    }
    const kids = await a.actor.accept(l, n);
    for (const k of kids.slice(-n)) g.label(a, k, label);
    return remotes;
  };
  switch (kind) {
    case 'in-listener':
    case 'in-listener-inrange': {
      const portKind = kind === 'in-listener-inrange' ? 'inrange' : g.pick(['low', 'service', 'high'] as const);
      const addr = g.chance(0.3) ? F.own(a) : F.any;
      g.at(open, async () => {
        const l = await listenFresh(g, F, a, portKind, { addr });
        await children(l, g.int(1, 3), L(kind === 'in-listener' ? `in-listener-${portKind}` : kind, 'INBOUND'));
      });
      break;
    }
    case 'in-reuseport':
      g.at(open, async () => {
        const l1 = await listenFresh(g, F, a, g.pick(['service', 'high'] as const), { reuseport: true });
        const l2 = await a.actor.listen(F.any, l1.local![1], { reuseport: true, v6only: F.any === '::' ? F.v6only : null });
        const n = g.int(1, 3);
        for (let i = 0; i < n; i++) await p.actor.connect([F.at(a), l1.local![1]]);
        // Children land on either listener.
        for (let t = 0; ; t++) {
          const kids = [...(await a.actor.accept(l1, 0)), ...(await a.actor.accept(l2, 0))];
          if (kids.length >= n) {
            for (const k of kids) g.label(a, k, L(kind, 'INBOUND'));
            break;
          }
          if (t > 200) throw new Error(`in-reuseport: ${kids.length} of ${n} accepted`);
          await new Promise((r) => setTimeout(r, 5));
        }
      });
      break;
    case 'in-closed':
    case 'in-closed-inrange': {
      // Closed before tcpdir started (pre), or after its second snapshot saw it (live).
      const portKind = kind === 'in-closed-inrange' ? 'inrange' : g.pick(['low', 'service', 'high'] as const);
      const n = g.int(1, 3);
      const cls = `${kind}-${timing === 'pre' ? 'before-start' : 'after-seen'}${n > 1 ? '-shared' : ''}`;
      let l: ActorSocket;
      g.at(open, async () => {
        l = await listenFresh(g, F, a, portKind);
        await children(l, n, L(cls, 'INBOUND'));
        if (timing === 'pre') await a.actor.close(l);
      });
      if (timing === 'live') g.at('late', async () => a.actor.close(l));
      break;
    }
    case 'in-closed-between': {
      // A listener that lives between two snapshots (passive-mode FTP data): tcpdir never sees it.
      const portKind = g.pick(['high', 'inrange'] as const);
      g.at('late', async () => {
        const l = await listenFresh(g, F, a, portKind);
        await children(l, 1, { ...L(`in-closed-between-${portKind}`, 'INBOUND'), timing: 'live' });
        await a.actor.close(l);
      });
      break;
    }
    case 'in-from-bound-port':
      g.at(open, async () => {
        const l = await listenFresh(g, F, a, g.pick(['low', 'service', 'high'] as const));
        await children(l, 1, L(kind, 'INBOUND'), g.pick(['low', 'high'] as const));
      });
      break;
    case 'in-time-wait': {
      const closeListener = g.chance(0.5);
      const lbl = L(closeListener ? 'in-time-wait-listener-closed' : kind, 'INBOUND', {
        states: ['TIME_WAIT'],
        kernelUnknown: closeListener && timing === 'pre' ? 'TIME_WAIT of a child whose listener is gone' : null,
      });
      let l: ActorSocket, kid: ActorSocket, rem: ActorSocket;
      g.at(open, async () => {
        l = await listenFresh(g, F, a, g.pick(['low', 'service', 'high'] as const));
        [rem] = await children(l, 1, lbl);
        kid = (await a.actor.accept(l, 1)).at(-1)!;
      });
      g.at('end', async () => {
        await a.actor.close(kid);
        await p.actor.close(rem);
        if (closeListener) await a.actor.close(l);
      });
      break;
    }
    case 'in-close-wait': {
      let rem: ActorSocket;
      g.at(open, async () => {
        const l = await listenFresh(g, F, a, g.pick(['low', 'service', 'high'] as const));
        [rem] = await children(l, 1, L(kind, 'INBOUND', { states: ['CLOSE_WAIT'] }));
      });
      g.at('end', async () => p.actor.close(rem));
      break;
    }
    case 'in-listen0-closed':
      g.at(open, async () => {
        const l = await listenFresh(g, F, a, g.pick(['service', 'high'] as const), { backlog: 0 });
        await children(l, 1, L(kind, 'INBOUND', { kernelUnknown: timing === 'pre' ? 'a child of a closed listen(0) listener inherits a backlog of 0' : null }));
        await a.actor.close(l);
      });
      break;
    case 'in-queued':
      // Left in the accept queue of a listener that never accepts: labelled by its tuple below.
      g.at(open, async () => {
        const l = await listenFresh(g, F, a, g.pick(['service', 'high'] as const), { accept: false });
        const c = await p.actor.connect([F.at(a), l.local![1]]);
        g.queued.push({ agent: a, peerSock: c, label: L(kind, 'INBOUND') });
      });
      break;
    case 'out-ephemeral':
    case 'out-to-peer-range': {
      const portKind = kind === 'out-to-peer-range' ? 'inrange' : g.pick(['low', 'service', 'high'] as const);
      const n = g.int(1, 3);
      g.at(open, async () => {
        const l = await listenFresh(g, F, p, portKind);
        for (let i = 0; i < n; i++) g.label(a, await a.actor.connect([F.at(p), l.local![1]]), L(kind === 'out-ephemeral' ? `out-ephemeral-to-${portKind}` : kind, 'OUTBOUND'));
      });
      break;
    }
    case 'out-bound-low':
    case 'out-active-ftp':
    case 'out-bound-fixed':
    case 'out-bound-inrange': {
      // Clients that bind() a fixed source port: privileged-port clients (rsh, NFS) to a service,
      // active-mode FTP data (port 20 or another low port, to the peer's high port), fixed ports.
      const to = kind === 'out-active-ftp' ? g.pick(['client-high', 'inrange'] as const) : g.pick(['low', 'service', 'high'] as const);
      const from = kind === 'out-bound-inrange' ? 'inrange' : kind === 'out-bound-fixed' ? g.pick(['high', 'service'] as const) : 'low';
      g.at(open, async () => {
        const l = await listenFresh(g, F, p, to);
        const c = await connectBound(g, F, a, [F.at(p), l.local![1]], from);
        g.label(a, c, L(kind === 'out-bound-fixed' ? `out-bound-fixed-${from}` : kind, 'OUTBOUND'));
      });
      break;
    }
    case 'out-reuseaddr': {
      const n = g.int(2, 3);
      g.at(open, async () => {
        const from = g.port(a, g.pick(['high', 'low'] as const));
        for (let i = 0; i < n; i++) {
          const l = await listenFresh(g, F, p, g.pick(['service', 'high'] as const));
          g.label(a, await connectBound(g, F, a, [F.at(p), l.local![1]], 'high', { reuseaddr: true, port: from }), L(kind, 'OUTBOUND'));
        }
      });
      break;
    }
    case 'out-reuseport-client':
      g.at(open, async () => {
        const l = await listenFresh(g, F, a, g.pick(['service', 'high'] as const), { reuseport: true });
        await children(l, 1, L('in-reuseport-with-client', 'INBOUND'));
        const svc = await listenFresh(g, F, p, g.pick(['low', 'service'] as const));
        const c = await a.actor.connect([F.at(p), svc.local![1]], { bind: [F.name === 'v6' ? '::' : '0.0.0.0', l.local![1]], reuseport: true });
        g.label(a, c, L(kind, 'OUTBOUND', {
          heuristicBlindSpot: "an SO_REUSEPORT client on a live listener's address and port is, to sock_diag, one more child of it",
        }));
      });
      break;
    case 'out-bind-zero':
      g.at(open, async () => {
        const l = await listenFresh(g, F, p, g.pick(['low', 'service', 'high'] as const));
        g.label(a, await a.actor.connect([F.at(p), l.local![1]], { bind: [F.at(a), 0] }),
          L(kind, 'OUTBOUND', { kernelUnknown: timing === 'pre' ? 'a client that did bind(addr, 0) then connect()' : null }));
      });
      break;
    case 'out-other-address-listener':
      g.at(open, async () => {
        const own = await listenFresh(g, F, a, g.pick(['service', 'high'] as const), { addr: F.name === 'v4' ? '127.0.0.1' : '::1' });
        const l = await listenFresh(g, F, p, g.pick(['low', 'service', 'high'] as const));
        g.label(a, await connectBound(g, F, a, [F.at(p), l.local![1]], 'high', { port: own.local![1] }), L(kind, 'OUTBOUND'));
      });
      break;
    case 'out-time-wait':
    case 'out-time-wait-bound': {
      let c: ActorSocket, kid: ActorSocket;
      g.at(open, async () => {
        const l = await listenFresh(g, F, p, g.pick(['low', 'service', 'high'] as const));
        c = kind === 'out-time-wait' ? await a.actor.connect([F.at(p), l.local![1]]) : await connectBound(g, F, a, [F.at(p), l.local![1]], g.pick(['high', 'low'] as const));
        g.label(a, c, L(kind, 'OUTBOUND', {
          states: ['TIME_WAIT'],
          kernelUnknown: kind === 'out-time-wait-bound' && timing === 'pre' ? 'TIME_WAIT of an explicitly bound client' : null,
        }));
        kid = (await p.actor.accept(l, 1)).at(-1)!;
      });
      g.at('end', async () => {
        await a.actor.close(c);
        await p.actor.close(kid);
      });
      break;
    }
    case 'out-fin-wait2': {
      let c: ActorSocket;
      g.at(open, async () => {
        const l = await listenFresh(g, F, p, g.pick(['low', 'service', 'high'] as const));
        c = await a.actor.connect([F.at(p), l.local![1]]);
        g.label(a, c, L(kind, 'OUTBOUND', { states: ['FIN_WAIT2'] }));
      });
      g.at('end', async () => a.actor.shutdown(c, 'wr'));
      break;
    }
    case 'loopback':
    case 'loopback-closed': {
      const portKind = g.pick(['service', 'high', 'inrange'] as const);
      let l: ActorSocket;
      g.at(open, async () => {
        l = await listenFresh(g, F, a, portKind, { addr: F.name === 'mapped' ? '::' : F.lo });
        g.label(a, await a.actor.connect([F.lo, l.local![1]]), L(`${kind}-${portKind}-client`, 'OUTBOUND'));
        for (const k of await a.actor.accept(l, 1)) g.label(a, k, L(`${kind}-${portKind}-child`, 'INBOUND'));
        if (kind === 'loopback-closed' && timing === 'pre') await a.actor.close(l);
      });
      if (kind === 'loopback-closed' && timing === 'live') g.at('late', async () => a.actor.close(l));
      break;
    }
  }
}

function randomRange(g: Gen): { low: number; high: number } {
  const k = g.int(0, 3);
  if (k === 0) return { low: 32768, high: 60999 };
  if (k === 1) return { low: 49152, high: 65535 };
  const low = g.int(1024, 40000);
  return { low, high: Math.min(65535, low + g.int(2000, 24000)) };
}

export interface GenResult {
  seed: number;
  observations: Observation[];
  /** Socket labels made, in all agents. */
  labelled: number;
  ranges: Array<{ ns: string; agent: boolean; low: number; high: number }>;
  seconds: number;
}

/** A Scenario object per class, so observations fit the suite's (and the bench's) shape. */
const classScenarios = new Map<string, Scenario>();
function scenarioOf(cls: string): Scenario {
  let s = classScenarios.get(cls);
  if (!s) classScenarios.set(cls, (s = { name: cls, description: `generated ${cls}`, setup: async () => undefined }));
  return s;
}

/** Builds the namespaces, runs the plan and returns one observation per (labelled socket, run). */
export async function runGenerated(opts: GenOptions): Promise<GenResult> {
  const started = Date.now();
  const log = opts.log ?? (() => undefined);
  const nA = opts.agents ?? 3, nR = opts.remotes ?? 2;
  const br = createBridged(nA + nR);
  const hosts: Host[] = [];
  const collectors: Array<{ host: Host; run: CollectRun; c: MemoryCollector }> = [];
  try {
    const g0 = new Gen(opts.seed, [], []);
    for (const [i, m] of br.members.entries()) {
      const range = randomRange(g0);
      execFileSync('ip', ['netns', 'exec', m.ns, 'sysctl', '-q', '-w', `net.ipv4.ip_local_port_range=${range.low} ${range.high}`], { stdio: 'pipe' });
      const address6 = `fd00:77::${i + 1}`;
      ip(['-n', m.ns, '-6', 'addr', 'add', `${address6}/64`, 'dev', 'eth0', 'nodad']);
      hosts.push({ ns: m.ns, address: m.address, address6, range, actor: new Actor(m.ns, `m${i}`), used: new Set(), agent: i < nA });
    }
    // The conntrack run reads the agents' tables: tracking starts with the first rule needing it,
    // loaded before any labelled socket exists.
    if (opts.runs.some((r) => r.conntrack)) {
      for (const h of hosts.filter((x) => x.agent)) {
        execFileSync('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], {
          input: 'table inet tcpdir_ct {\n chain in {\n  type filter hook input priority 0\n  ct state established,related accept\n }\n}\n',
          stdio: ['pipe', 'ignore', 'pipe'],
        });
      }
    }
    await Promise.all(hosts.map((h) => h.actor.ready));
    const g = new Gen(opts.seed, hosts.filter((h) => h.agent), hosts.filter((h) => !h.agent));
    // Plan until the expected socket count is reached (a unit labels about 1.5 sockets).
    const units = Math.ceil(opts.sockets / 1.5);
    for (let i = 0; i < units; i++) plan(g, g.agents[i % g.agents.length]);
    log(`generator seed ${opts.seed}: ${units} units on ${nA} agents, ${nR} remotes; ranges ${hosts.map((h) => `${h.range.low}-${h.range.high}`).join(', ')}`);
    await g.runPhase('pre');
    for (const h of g.agents) for (const run of opts.runs) collectors.push({ host: h, run, c: new MemoryCollector(h.ns, run) });
    await Promise.all(collectors.map((x) => x.c.snapshot())); // tcpdir starts
    await g.runPhase('live');
    await Promise.all(collectors.map((x) => x.c.snapshot())); // sees the live listeners
    await g.runPhase('late');
    await g.runPhase('end');
    await new Promise((r) => setTimeout(r, 150));
    // Every actor sweeps its auto-accepting listeners on any command: children labelled above
    // were accepted explicitly; this only settles stragglers before the judged snapshot.
    const lists = new Map<string, ActorSocket[]>();
    for (const h of g.agents) lists.set(h.ns, (await h.actor.call('list')).sockets as ActorSocket[]);
    const expectations: Array<{ host: Host; ex: Expectation }> = [];
    for (const h of g.agents) {
      for (const s of lists.get(h.ns)!) {
        const l = g.labels.get(`${h.ns}|${s.h}`);
        if (!l || !s.local || !s.remote) continue;
        expectations.push({ host: h, ex: toExpectation(l, s.local, s.remote) });
      }
    }
    for (const q of g.queued) expectations.push({ host: q.agent, ex: toExpectation(q.label, q.peerSock.remote!, q.peerSock.local!) });
    const observations: Observation[] = [];
    for (const { host, run, c } of collectors) {
      const snap = await c.snapshot();
      log(`generated ${host.ns} ${runName(run)}: ${snap.rows.length} sockets`);
      const byTuple = new Map<string, CollectedRow>();
      for (const r of snap.rows) if (r.state !== 'LISTEN') byTuple.set(tupleKey(r.local, r.lport, r.remote, r.rport), r);
      for (const { host: h, ex } of expectations) {
        if (h !== host) continue;
        const row = byTuple.get(tupleKey(ex.local[0], ex.local[1], ex.remote[0], ex.remote[1])) ?? null;
        observations.push({ scenario: scenarioOf(ex.scenario), expectation: ex, mode: 'combined', source: run.source, kernel: run.kernel,
          run: runName(run), row, snapshot: snap });
      }
    }
    return {
      seed: opts.seed,
      observations,
      labelled: expectations.length,
      ranges: hosts.map((h) => ({ ns: h.ns, agent: h.agent, ...h.range })),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await Promise.all([...hosts.map((h) => h.actor.stop()), ...collectors.map((x) => x.c.stop())]);
    br.destroy();
  }
}

function toExpectation(l: Label, local: Endpoint, remote: Endpoint): Expectation {
  return {
    scenario: `gen:${l.cls}`,
    label: l.fam === 'v4' ? l.timing : `${l.timing}, ${l.fam}`,
    direction: l.direction,
    local,
    remote,
    states: l.states,
    kernelUnknown: l.kernelUnknown,
    heuristicBlindSpot: l.heuristicBlindSpot,
  };
}

