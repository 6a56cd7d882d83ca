// Test hosts for the scenario suite: two network namespaces ("agent", where tcpdir looks, and
// "remote", its peer) joined by a veth pair. All traffic stays inside them. The agent's
// ip_local_port_range is deliberately non-default so a classifier that assumes 32768-60999
// instead of reading the namespace's own range is caught.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

export const NS_PREFIX = 'tcpdir-t-';

/** Addresses of the test link; documented in the module header of scenarios.ts. */
export const NET = {
  agentV4: '10.231.0.1',
  remoteV4: '10.231.0.2',
  /** Second address of the remote whose replies the agent sends to a dead MAC (SYN_RECV). */
  remoteV4Mute: '10.231.0.3',
  /**
   * Third remote address the agent first sends to a dead MAC; deleting that neighbour entry
   * lets a handshake stuck in SYN_SENT complete (scenarios with memory across snapshots).
   */
  remoteV4Late: '10.231.0.4',
  /** On-link address with no host behind it (SYN_SENT). */
  deadV4: '10.231.0.99',
  agentV6: 'fd00:231::1',
  remoteV6: 'fd00:231::2',
  remoteV6Mute: 'fd00:231::3',
  deadV6: 'fd00:231::99',
  /** Nobody owns this MAC: frames to it are dropped by the peer veth as PACKET_OTHERHOST. */
  deadMac: '02:00:00:00:de:ad',
  ephemeral: { low: 20000, high: 29999 },
} as const;

/** Repo root from dist/test/scenarios/*.js or test/scenarios/*.ts. */
export const REPO_ROOT = (() => {
  let d = __dirname;
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    d = path.dirname(d);
  }
  throw new Error(`cannot find the repository root above ${__dirname}`);
})();

/** tsc does not copy .py files into dist, so the actor is always run from the source tree. */
export const ACTOR_PATH = path.join(REPO_ROOT, 'test', 'scenarios', 'actor.py');

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the suite cannot run here, or null when it can. */
export function unsupportedReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'creating network namespaces needs root';
  if (spawnSync('ip', ['-V']).status !== 0) return '`ip` (iproute2) is not installed';
  if (spawnSync(PYTHON, ['-c', 'import socket']).status !== 0) return 'python3 is not installed';
  return null;
}

export function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

// Namespaces this process created and has not yet deleted; removed on any exit.
const live = new Set<string>();
let hooksInstalled = false;

export function deleteNamespace(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  live.delete(name);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const ns of [...live]) deleteNamespace(ns);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const ns of [...live]) deleteNamespace(ns);
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Deletes namespaces left behind by earlier runs whose process is gone. */
function reapStale(): void {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^tcpdir-t-(\d+)-/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
  }
}

/**
 * A fresh namespace `${NS_PREFIX}${pid}-${suffix}` with lo up, deleted on any exit of this process
 * (and by a later run's reaper if this one is killed).
 */
export function addNamespace(suffix: string): string {
  installExitHooks();
  reapStale();
  const name = `${NS_PREFIX}${process.pid}-${suffix}`;
  ip(['netns', 'add', name]);
  live.add(name);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export interface NetnsPair {
  agent: string;
  remote: string;
  /** Runs a command inside a namespace and returns its stdout. */
  exec(ns: string, argv: string[], opts?: { timeoutMs?: number }): Promise<string>;
  destroy(): void;
}

let counter = 0;

/**
 * Creates the agent/remote namespaces: veth eth0 in each, 10.231.0.1|.2/24 and fd00:231::1|::2/64
 * (nodad, so IPv6 is usable at once), lo up, the agent's ephemeral range set to NET.ephemeral,
 * and dead neighbours in the agent for NET.deadV4/V6 and the remote's mute addresses.
 */
export function createNetnsPair(): NetnsPair {
  installExitHooks();
  reapStale();
  const tag = `${NS_PREFIX}${process.pid}-${counter++}`;
  const agent = `${tag}-agent`;
  const remote = `${tag}-remote`;
  try {
    for (const ns of [agent, remote]) {
      ip(['netns', 'add', ns]);
      live.add(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // The veth is created inside the agent namespace and its peer moved straight to the remote
    // one, so no device name ever appears in the host namespace.
    ip(['-n', agent, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', remote]);
    ip(['-n', agent, 'addr', 'add', `${NET.agentV4}/24`, 'dev', 'eth0']);
    ip(['-n', remote, 'addr', 'add', `${NET.remoteV4}/24`, 'dev', 'eth0']);
    ip(['-n', remote, 'addr', 'add', `${NET.remoteV4Mute}/24`, 'dev', 'eth0']);
    ip(['-n', remote, 'addr', 'add', `${NET.remoteV4Late}/24`, 'dev', 'eth0']);
    ip(['-n', agent, '-6', 'addr', 'add', `${NET.agentV6}/64`, 'dev', 'eth0', 'nodad']);
    ip(['-n', remote, '-6', 'addr', 'add', `${NET.remoteV6}/64`, 'dev', 'eth0', 'nodad']);
    // Deprecated (preferred_lft 0) so the remote never picks it as a source address on its own:
    // only a client that binds it explicitly uses it.
    ip(['-n', remote, '-6', 'addr', 'add', `${NET.remoteV6Mute}/64`, 'dev', 'eth0', 'nodad', 'preferred_lft', '0']);
    ip(['-n', agent, 'link', 'set', 'eth0', 'up']);
    ip(['-n', remote, 'link', 'set', 'eth0', 'up']);
    // Permanent neighbours with a MAC nobody has: the agent's SYNs (or SYN-ACKs) to these
    // addresses leave and are dropped, so SYN_SENT / SYN_RECV last for the kernel's whole retry
    // schedule (about a minute) instead of failing after the ~3 s ARP timeout.
    for (const addr of [NET.deadV4, NET.remoteV4Mute, NET.remoteV4Late, NET.deadV6, NET.remoteV6Mute]) {
      ip(['-n', agent, 'neigh', 'replace', addr, 'lladdr', NET.deadMac, 'dev', 'eth0', 'nud', 'permanent']);
    }
    execFileSync('ip', ['netns', 'exec', agent, 'sysctl', '-q', '-w',
      `net.ipv4.ip_local_port_range=${NET.ephemeral.low} ${NET.ephemeral.high}`], { stdio: 'pipe' });
  } catch (e) {
    deleteNamespace(agent);
    deleteNamespace(remote);
    throw e;
  }

  return {
    agent,
    remote,
    exec(ns, argv, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(new Error(`ip netns exec ${ns} ${argv.join(' ')}: ${e.message}`));
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) resolve(out);
          else reject(new Error(`ip netns exec ${ns} ${argv.join(' ')} exited ${code ?? signal}: ${err.trim()}`));
        });
      });
    },
    destroy() {
      deleteNamespace(agent);
      deleteNamespace(remote);
    },
  };
}

/** One endpoint as the actor reports it: [address, port]. */
export type Endpoint = [string, number];

export interface ActorSocket {
  h: number;
  kind: 'listener' | 'connected' | 'accepted';
  local: Endpoint | null;
  remote: Endpoint | null;
  parent: number | null;
  closed: boolean;
}

export interface ListenOpts {
  backlog?: number;
  reuseaddr?: boolean;
  reuseport?: boolean;
  v6only?: boolean | null;
  /** false: never accept, children stay in the accept queue. */
  accept?: boolean;
}

export interface ConnectOpts {
  bind?: Endpoint;
  reuseaddr?: boolean;
  reuseport?: boolean;
  /** Return at once without waiting for the handshake (SYN_SENT scenarios). */
  nonblocking?: boolean;
}

/** A python3 actor process inside one namespace, driven over JSON lines. */
export class Actor {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  private nextId = 1;
  private stderr = '';
  private exited: string | null = null;
  readonly ready: Promise<void>;

  constructor(readonly ns: string, readonly name: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, PYTHON, '-u', ACTOR_PATH], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const rl = createInterface({ input: this.child.stdout });
    rl.on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.ready) {
        readyResolve();
        return;
      }
      this.waiting.shift()?.resolve(msg);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `actor ${name} in ${ns} exited ${code ?? signal}${this.stderr ? `: ${this.stderr.trim()}` : ''}`;
      const e = new Error(this.exited);
      readyReject(e);
      for (const w of this.waiting.splice(0)) w.reject(e);
    });
    this.ready.catch(() => undefined);
  }

  /** Sends one command; rejects with the actor's error text when it failed. */
  async call(op: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    await this.ready;
    if (this.exited) throw new Error(this.exited);
    const id = this.nextId++;
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ ...args, op, id })}\n`);
    });
    if (!reply.ok) throw new Error(`actor ${this.name} (${this.ns}) ${op} ${JSON.stringify(args)}: ${String(reply.error)}`);
    return reply;
  }

  async listen(addr: string, port: number, opts: ListenOpts = {}): Promise<ActorSocket> {
    return (await this.call('listen', { addr, port, ...opts })) as unknown as ActorSocket;
  }

  async connect(to: Endpoint, opts: ConnectOpts = {}): Promise<ActorSocket> {
    return (await this.call('connect', { to, ...opts })) as unknown as ActorSocket;
  }

  /** Accepts on `listener` until `expect` children in total came from it. */
  async accept(listener: ActorSocket, expect: number): Promise<ActorSocket[]> {
    const r = await this.call('accept', { h: listener.h, expect });
    return r.children as ActorSocket[];
  }

  /** Waits for a non-blocking connect to finish. */
  async waitConnected(s: ActorSocket, timeoutSec = 10): Promise<void> {
    await this.call('wait_connected', { h: s.h, timeout: timeoutSec });
  }

  async shutdown(s: ActorSocket, how: 'rd' | 'wr' | 'rdwr' = 'wr'): Promise<void> {
    await this.call('shutdown', { h: s.h, how });
  }

  async close(s: ActorSocket): Promise<void> {
    await this.call('close', { h: s.h });
  }

  async send(s: ActorSocket, data: string): Promise<void> {
    await this.call('send', { h: s.h, data });
  }

  /** What has arrived on `s` (waits up to timeoutSec for the first byte). */
  async recv(s: ActorSocket, timeoutSec = 5): Promise<string> {
    return String((await this.call('recv', { h: s.h, timeout: timeoutSec })).data);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((res) => this.child.once('exit', () => res()));
    try {
      await Promise.race([this.call('quit'), done]);
    } catch {
      /* already gone */
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await done;
    clearTimeout(t);
  }
}
