import { readdir, readFile, readlink } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import type { ContainerRef } from '../model';
import { NamedNetnsWatch } from './named-netns';
import { parseNetnsLink } from './netns-id';
import { DEFAULT_NETNS_DIR, DEFAULT_PROC_ROOT, netnsEnterPath } from './host-paths';

/** One network namespace found on the host (before any socket is read). */
export interface DiscoveredNetns {
  /** nsfs id, "net:[4026532177]". */
  id: string;
  inode: number;
  /** First name under /run/netns (sorted), when it has one. */
  name: string | null;
  /** Processes (tgids) whose /proc/PID/ns/net names it, ascending. */
  pids: number[];
  /** How to enter it: /run/netns/NAME when named (no pid race), else /proc/PID/ns/net. */
  path: string | null;
  container: ContainerRef | null;
  /** The namespace this process runs in. */
  self: boolean;
}

export interface Discovery {
  namespaces: DiscoveredNetns[];
  selfId: string | null;
  /** Processes whose ns/net link could not be read (EACCES without privilege): their namespaces may be missing. */
  unreadablePids: number;
}

const HEX64 = '([0-9a-f]{64})';
// Container id patterns in cgroup paths (v1 and v2, systemd and cgroupfs drivers).
const CONTAINER_PATTERNS: [RegExp, string][] = [
  [new RegExp(`(?:^|/)docker-${HEX64}\\.scope(?:/|$)`), 'docker'],
  [new RegExp(`(?:^|/)docker/${HEX64}(?:/|$)`), 'docker'],
  [new RegExp(`(?:^|/)cri-containerd-${HEX64}\\.scope(?:/|$)`), 'containerd'],
  [new RegExp(`(?:^|/)crio-${HEX64}\\.scope(?:/|$)`), 'cri-o'],
  [new RegExp(`(?:^|/)crio/${HEX64}(?:/|$)`), 'cri-o'],
  [new RegExp(`(?:^|/)libpod-${HEX64}\\.scope(?:/|$)`), 'podman'],
  // cgroupfs driver under Kubernetes: /kubepods/<qos>/pod<uid>/<id> (containerd; cri-o uses crio-<id>).
  [new RegExp(`(?:^|/)kubepods[^\\n]*/pod[0-9a-f_-]{36}/${HEX64}(?:/|$)`), 'containerd'],
  // containerd's own "default" / "k8s.io" namespaces with the cgroupfs driver (nerdctl, ctr).
  [new RegExp(`(?:^|/)(?:default|k8s\\.io)/${HEX64}(?:/|$)`), 'containerd'],
];
const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:\/|$)/;

/**
 * The container a process belongs to, from the text of /proc/PID/cgroup ("0::/system.slice/
 * docker-<id>.scope", "12:pids:/kubepods/besteffort/pod<uid>/<id>", ...); null when none. Pure.
 */
export function parseCgroupContainer(text: string): ContainerRef | null {
  for (const line of text.split('\n')) {
    const c1 = line.indexOf(':');
    const c2 = c1 < 0 ? -1 : line.indexOf(':', c1 + 1);
    if (c2 < 0) continue;
    const path = line.slice(c2 + 1);
    for (const [re, runtime] of CONTAINER_PATTERNS) {
      const m = re.exec(path);
      if (!m) continue;
      const pod = POD_UID.exec(path);
      return { runtime, id: m[1], podUid: pod ? pod[1].replace(/_/g, '-') : null };
    }
  }
  return null;
}

function inodeOf(id: string): number {
  return Number(id.slice(5, -1));
}

async function readNetnsLinkOf(procRoot: string, pid: string): Promise<string | null | 'denied'> {
  try {
    return parseNetnsLink(await readlink(join(procRoot, pid, 'ns', 'net')));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOENT/ESRCH: the process exited between readdir and readlink.
    return code === 'EACCES' || code === 'EPERM' ? 'denied' : null;
  }
}

export interface DiscoveryOptions {
  procRoot?: string;
  runNetnsDir?: string;
  /** Watch /run/netns with inotify instead of reading it on every discovery (default true). */
  watch?: boolean;
  /** Every pid's link is read again at least this often (default 30 s; see NetnsDiscovery). */
  fullRescanMs?: number;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

/**
 * Every network namespace on the host: the distinct /proc/PID/ns/net links plus /run/netns,
 * kept between discoveries so that one where nothing changed costs a readdir of /proc and one
 * readlink per unnamed foreign namespace, not one per process:
 * - a pid's link is read when the pid first appears, and forgotten when it goes;
 * - /run/netns is read again only when inotify says it changed (NamedNetnsWatch);
 * - the pid an unnamed namespace is entered or read through (its lowest) is checked every time: a
 *   changed link there (pid reused, or the process moved) makes this discovery a full one;
 * - a process that unshare()s or setns()es in place keeps its pid and raises no event, so every
 *   link is read again at least every fullRescanMs (a safety net: until then Netns.pids can list
 *   it under its old namespace; a namespace only it holds is found by that rescan).
 */
export class NetnsDiscovery {
  private readonly procRoot: string;
  private readonly named: NamedNetnsWatch;
  private readonly fullRescanMs: number;
  private readonly now: () => number;
  /** pid -> its ns/net link ('denied': unreadable without privilege). */
  private readonly links = new Map<number, string | 'denied'>();
  private selfId: string | null | 'denied' | undefined;
  /** Namespace id -> the container found through one of its pids (kept while that pid stays in it). */
  private readonly containers = new Map<string, { pid: number; container: ContainerRef | null }>();
  private lastFull = -Infinity;
  private running: Promise<Discovery> | null = null;
  /** Links read by the last discovery (bench:namespaces and tests show what a discovery cost). */
  lastReads = 0;

  constructor(private readonly opts: DiscoveryOptions = {}) {
    this.procRoot = opts.procRoot ?? DEFAULT_PROC_ROOT;
    const dir = opts.runNetnsDir ?? DEFAULT_NETNS_DIR;
    this.named = new NamedNetnsWatch(dir, this.procRoot, opts.watch !== false);
    this.fullRescanMs = opts.fullRescanMs ?? 30_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** One discovery; calls made while one runs share it. */
  discover(): Promise<Discovery> {
    return (this.running ??= this.run().finally(() => (this.running = null)));
  }

  close(): void {
    this.named.close();
  }

  private async run(): Promise<Discovery> {
    const full = this.now() - this.lastFull >= this.fullRescanMs;
    if (full) this.forgetAll();
    let d = await this.scan();
    if (d === null) {
      // A namespace's first pid now links elsewhere: nothing learnt from pids can be trusted.
      this.forgetAll();
      d = (await this.scan())!;
    }
    return d;
  }

  private forgetAll(): void {
    this.links.clear();
    this.containers.clear();
    this.selfId = undefined;
    this.named.forget();
    this.lastFull = this.now();
  }

  /** null when a namespace's first pid was found linking elsewhere (call again after forgetAll). */
  private async scan(): Promise<Discovery | null> {
    const procRoot = this.procRoot;
    const present = new Set<number>();
    for (const e of await readdir(procRoot)) if (/^\d+$/.test(e)) present.add(Number(e));
    for (const pid of this.links.keys()) if (!present.has(pid)) this.links.delete(pid);
    const fresh: number[] = [];
    for (const pid of present) if (!this.links.has(pid)) fresh.push(pid);
    // tcpdir never moves its own main thread (the addon enters namespaces on helper threads).
    const readSelf = this.selfId === undefined;
    const [links, named, selfLink] = await Promise.all([
      Promise.all(fresh.map((p) => readNetnsLinkOf(procRoot, String(p)))),
      this.named.read(),
      readSelf ? readNetnsLinkOf(procRoot, 'self') : (this.selfId as string | null | 'denied'),
    ]);
    this.selfId = selfLink;
    let reads = fresh.length + (readSelf ? 1 : 0);
    for (let i = 0; i < fresh.length; i++) {
      const l = links[i];
      if (l !== null) this.links.set(fresh[i], l); // null: exited meanwhile
    }
    const selfId = selfLink === 'denied' ? null : selfLink;
    const byId = new Map<string, number[]>();
    let unreadablePids = 0;
    for (const [pid, l] of this.links) {
      if (l === 'denied') {
        unreadablePids++;
        continue;
      }
      const list = byId.get(l);
      if (list) list.push(pid);
      else byId.set(l, [pid]);
    }
    for (const list of byId.values()) list.sort((a, b) => a - b);
    // The pid an unnamed foreign namespace is entered or read through, checked unless just read
    // (a named one is entered by its /run/netns path, the own one not at all).
    const justRead = new Set(fresh);
    const checks = [...byId].filter(([id, p]) => id !== selfId && !named.has(inodeOf(id)) && !justRead.has(p[0]));
    const now = await Promise.all(checks.map(([, p]) => readNetnsLinkOf(procRoot, String(p[0]))));
    reads += checks.length;
    this.lastReads = reads;
    for (let i = 0; i < checks.length; i++) {
      const [id, p] = checks[i];
      if (now[i] === id) continue;
      if (now[i] !== null) return null;
      // Exited since readdir: drop it; the next discovery checks the namespace's next pid.
      this.links.delete(p[0]);
      p.shift();
      if (p.length === 0) byId.delete(id);
    }
    for (const ino of named.keys()) {
      const id = `net:[${ino}]`;
      if (!byId.has(id)) byId.set(id, []);
    }
    if (selfId && !byId.has(selfId)) byId.set(selfId, [process.pid]);
    for (const id of this.containers.keys()) if (!byId.has(id)) this.containers.delete(id);

    const namespaces = await Promise.all(
      [...byId].map(async ([id, nsPids]): Promise<DiscoveredNetns> => {
        const inode = inodeOf(id);
        const names = named.get(inode);
        const name = names ? names[0] : null;
        const path = netnsEnterPath({ procRoot, netnsDir: this.opts.runNetnsDir ?? DEFAULT_NETNS_DIR }, { name, pids: nsPids });
        return { id, inode, name, pids: nsPids, path, container: id === selfId ? null : await this.containerOf(id, nsPids), self: id === selfId };
      }),
    );
    // The own namespace first, then by inode: a stable order for the API.
    namespaces.sort((a, b) => (a.self !== b.self ? (a.self ? -1 : 1) : a.inode - b.inode));
    return { namespaces, selfId, unreadablePids };
  }

  /** The container of a namespace, read again only when the pid it was read through left it. */
  private async containerOf(id: string, pids: number[]): Promise<ContainerRef | null> {
    const kept = this.containers.get(id);
    if (kept && pids.includes(kept.pid)) return kept.container;
    if (pids.length === 0) return null;
    const found = await containerOf(this.procRoot, pids);
    this.containers.set(id, { pid: found.pid ?? pids[0], container: found.container });
    return found.container;
  }
}

/** Every network namespace on the host, read afresh (one-shot callers; the service keeps a NetnsDiscovery). */
export function discoverNamespaces(procRoot = DEFAULT_PROC_ROOT, runNetnsDir = DEFAULT_NETNS_DIR): Promise<Discovery> {
  return new NetnsDiscovery({ procRoot, runNetnsDir, watch: false }).discover();
}

/** The first container found among a namespace's processes (a pod's processes share one netns), with the pid it was read through. */
async function containerOf(procRoot: string, pids: number[]): Promise<{ container: ContainerRef | null; pid: number | null }> {
  for (const pid of pids.slice(0, 8)) {
    try {
      const c = parseCgroupContainer(await readFile(join(procRoot, String(pid), 'cgroup'), 'latin1'));
      if (c) return { container: c, pid };
    } catch {
      // Exited; try the next one.
    }
  }
  return { container: null, pid: null };
}
