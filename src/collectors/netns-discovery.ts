import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRef } from '../model';
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

/** name -> nsfs inode for every bind mount in /run/netns; [] when the directory is absent. */
export async function readNamedNetns(runNetnsDir = DEFAULT_NETNS_DIR, procRoot = DEFAULT_PROC_ROOT): Promise<Map<number, string[]>> {
  const byInode = new Map<number, string[]>();
  let names: string[];
  try {
    names = (await readdir(runNetnsDir)).sort();
  } catch {
    return byInode;
  }
  // Every nsfs file shares one device: a placeholder left on tmpfs by a half-failed
  // `ip netns add` (or a stray file) is no namespace.
  const nsfsDev = await stat(join(procRoot, 'self', 'ns', 'net')).then((s) => s.dev, () => null);
  await Promise.all(
    names.map(async (name) => {
      try {
        const st = await stat(join(runNetnsDir, name));
        if (nsfsDev !== null ? st.dev !== nsfsDev : st.size !== 0) return;
        const list = byInode.get(st.ino);
        if (list) list.push(name);
        else byInode.set(st.ino, [name]);
      } catch {
        // Deleted between readdir and stat.
      }
    }),
  );
  for (const list of byInode.values()) list.sort();
  return byInode;
}

/** Every network namespace on the host: the distinct /proc/PID/ns/net links plus /run/netns. */
export async function discoverNamespaces(procRoot = DEFAULT_PROC_ROOT, runNetnsDir = DEFAULT_NETNS_DIR): Promise<Discovery> {
  const entries = await readdir(procRoot);
  const pids = entries.filter((e) => /^\d+$/.test(e));
  const [links, named, selfLink] = await Promise.all([
    Promise.all(pids.map((p) => readNetnsLinkOf(procRoot, p))),
    readNamedNetns(runNetnsDir, procRoot),
    readNetnsLinkOf(procRoot, 'self'),
  ]);
  const selfId = selfLink === 'denied' ? null : selfLink;
  const byId = new Map<string, number[]>();
  let unreadablePids = 0;
  for (let i = 0; i < pids.length; i++) {
    const l = links[i];
    if (l === 'denied') unreadablePids++;
    if (l === null || l === 'denied') continue;
    const list = byId.get(l);
    if (list) list.push(Number(pids[i]));
    else byId.set(l, [Number(pids[i])]);
  }
  for (const ino of named.keys()) {
    const id = `net:[${ino}]`;
    if (!byId.has(id)) byId.set(id, []);
  }
  if (selfId && !byId.has(selfId)) byId.set(selfId, [process.pid]);

  const namespaces = await Promise.all(
    [...byId].map(async ([id, nsPids]): Promise<DiscoveredNetns> => {
      nsPids.sort((a, b) => a - b);
      const inode = inodeOf(id);
      const names = named.get(inode);
      const name = names ? names[0] : null;
      const path = netnsEnterPath({ procRoot, netnsDir: runNetnsDir }, { name, pids: nsPids });
      return { id, inode, name, pids: nsPids, path, container: id === selfId ? null : await containerOf(procRoot, nsPids), self: id === selfId };
    }),
  );
  // The own namespace first, then by inode: a stable order for the API.
  namespaces.sort((a, b) => (a.self !== b.self ? (a.self ? -1 : 1) : a.inode - b.inode));
  return { namespaces, selfId, unreadablePids };
}

/** The first container found among a namespace's processes (a pod's processes share one netns). */
async function containerOf(procRoot: string, pids: number[]): Promise<ContainerRef | null> {
  for (const pid of pids.slice(0, 8)) {
    try {
      const c = parseCgroupContainer(await readFile(join(procRoot, String(pid), 'cgroup'), 'latin1'));
      if (c) return c;
    } catch {
      // Exited; try the next one.
    }
  }
  return null;
}
