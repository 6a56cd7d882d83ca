import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { HostFacts, NetnsInfo, PortRange, ProcessMap, Snapshot, Socket } from '../model';
import { loadSockDiag, type NetnsDumpResult, type SockDiagBinding } from './native';
import { discoverNamespaces, type DiscoveredNetns, type NetnsDiscovery } from './netns-discovery';
import { parsePortRange, parseReservedPorts } from './port-range';
import { ProcessResolver } from './proc-fd';
import { readProcNetTcp } from './proc-net-tcp';
import { collectSnapshot, type CollectOptions } from './snapshot';
import { decodeSockDiag, LAYOUT_VERSION, RECORD_SIZE } from './sockdiag';
import { DEFAULT_PROC_ROOT } from './host-paths';
import { KernelRecordTable, socketsFromKernelTable } from './kernel';
import type { WalkPass } from './netns-walks';
import { twoAtATime } from './two-lanes';

/** Linux's default ip_local_port_range, assumed where a namespace's own could not be read. */
export const DEFAULT_EPHEMERAL_RANGE: PortRange = { low: 32768, high: 60999 };

const CAP_SYS_ADMIN = 21;

export interface AllNamespacesOptions extends CollectOptions {
  /** Where `ip netns` keeps its bind mounts (default /run/netns). */
  runNetnsDir?: string;
  /**
   * Enter other namespaces with setns (needs CAP_SYS_ADMIN). auto (default): when the process
   * has CAP_SYS_ADMIN; otherwise their sockets come from /proc/PID/net/tcp{,6}.
   */
  enter?: 'auto' | boolean;
  /** Discovery state kept between collections (the service's); default: a full discovery each call. */
  discovery?: NetnsDiscovery;
  /** This collection's use of the walks kept between collections: unchanged namespaces are not read again. */
  walks?: WalkPass;
  /**
   * Reads the eBPF iterator inside another namespace (kernel evidence): its raw records, which
   * then list that namespace's sockets, sock_diag reading only its sysctls: one walk of the host's
   * table per namespace instead of two. Throws when the namespace at `path` is not `inode` (gone).
   * A namespace whose pass fails is dumped with sock_diag.
   */
  iterateIn?: (path: string, inode: number) => Promise<Buffer>;
  /** The kernel's change counts per namespace (KernelEvidenceSource.netnsChanges), for `walks`. */
  netnsChanges?: (inodes: number[]) => Float64Array | null;
}

/** Whether CAP_SYS_ADMIN is in this process's effective set (from <procRoot>/self/status). */
export async function hasCapSysAdmin(procRoot = DEFAULT_PROC_ROOT): Promise<boolean> {
  try {
    const status = await readFile(join(procRoot, 'self', 'status'), 'latin1');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_SYS_ADMIN))) !== 0n;
  } catch {
    return false;
  }
}

const sharedResolvers = new Map<string, ProcessResolver>();

function resolverFor(root: string): ProcessResolver {
  let r = sharedResolvers.get(root);
  if (!r) sharedResolvers.set(root, (r = new ProcessResolver(root)));
  return r;
}

function assumedHost(id: string): HostFacts {
  return { ephemeralPortRange: { ...DEFAULT_EPHEMERAL_RANGE }, reservedPorts: [], ephemeralPortRangeAssumed: true, netns: id };
}

/** Host facts from the sysctl text the addon read inside the namespace; unreadable -> assumed range. */
function hostFromDump(id: string, range: string | null, reserved: string | null): { host: HostFacts; note: string | null } {
  try {
    if (range === null) return { host: assumedHost(id), note: 'ip_local_port_range unreadable inside the namespace; 32768-60999 assumed' };
    return {
      host: { ephemeralPortRange: parsePortRange(range), reservedPorts: reserved === null ? [] : parseReservedPorts(reserved), netns: id },
      note: null,
    };
  } catch (e) {
    return { host: assumedHost(id), note: `${(e as Error).message}; 32768-60999 assumed` };
  }
}

/** Sockets of a namespace read through one of its processes; null when every process is gone. */
async function readViaProcfs(procRoot: string, ns: DiscoveredNetns): Promise<Socket[] | null> {
  for (const pid of ns.pids) {
    try {
      return await readProcNetTcp(join(procRoot, String(pid)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') continue; // exited: try the next process
      throw e;
    }
  }
  return null;
}

function tag(sockets: Socket[], id: string, prefixIds: boolean): void {
  for (const s of sockets) {
    // Own sockets from the eBPF source may be the last pass's objects, already tagged alike.
    if (s.netns !== id) s.netns = id;
    // procfs ids are tuples, which repeat across namespaces (every container's 127.0.0.1:8080);
    // cookies are host-wide and stay as they are.
    if (prefixIds) s.id = `${id}/${s.id}`;
  }
}

interface Part {
  info: NetnsInfo;
  sockets: Socket[];
}

/**
 * One snapshot of every network namespace on the host. Sockets carry Socket.netns (the own
 * namespace's too) and Snapshot.namespaces describes each namespace: its own port range, how it
 * was read, and why not when it could not be. A namespace that vanishes mid-collection is left out.
 */
export async function collectAllNamespaces(opts: AllNamespacesOptions = {}): Promise<Snapshot> {
  const procRoot = opts.procRoot ?? DEFAULT_PROC_ROOT;
  const collectedAt = Date.now();
  const t0 = performance.now();
  const [own, discovery, privileged] = await Promise.all([
    collectSnapshot({ source: opts.source, procRoot, nativeDir: opts.nativeDir, processes: false, ebpf: opts.ebpf, netlinkReuse: opts.netlinkReuse, tcpInfo: opts.tcpInfo }),
    opts.discovery ? opts.discovery.discover() : discoverNamespaces(procRoot, opts.runNetnsDir),
    opts.enter === undefined || opts.enter === 'auto' ? hasCapSysAdmin(procRoot) : Promise.resolve(opts.enter),
  ]);
  const selfId = discovery.selfId ?? own.host.netns;
  if (!selfId) {
    // Without our own namespace id, sockets cannot be told apart by namespace: stay single.
    own.fallbackReason = [own.fallbackReason, 'all namespaces: own ns/net link unreadable, own namespace only'].filter(Boolean).join('; ');
    return finish(own, opts, procRoot, t0);
  }
  const foreign = discovery.namespaces.filter((n) => n.id !== selfId);
  const selfNs = discovery.namespaces.find((n) => n.id === selfId);
  const notes: string[] = [];
  if (discovery.unreadablePids > 0) {
    const n = discovery.unreadablePids;
    notes.push(`${n} ${n === 1 ? "process's ns/net link was" : "processes' ns/net links were"} unreadable (no privilege): namespaces only ${n === 1 ? 'it uses are' : 'they use are'} missing`);
  }
  tag(own.sockets, selfId, false);
  const parts: Part[] = [
    {
      info: {
        id: selfId,
        name: selfNs?.name ?? null,
        pids: selfNs?.pids ?? [process.pid],
        container: null,
        host: { ...own.host, netns: selfId },
        source: own.source,
        reason: [own.fallbackReason, ...notes].filter(Boolean).join('; ') || null,
        self: true,
        readAt: collectedAt,
      },
      sockets: own.sockets,
    },
  ];

  // Namespaces where the kernel counted no change since their last walk keep it; the others are
  // entered, in one addon call (one helper thread for all of them).
  const walks = opts.walks;
  walks?.begin(foreign, opts.netnsChanges);
  const kept = foreign.map((ns) => walks?.unchanged(ns.id, collectedAt) ?? null);
  let dumps: (NetnsDumpResult | null)[] = foreign.map(() => null);
  // With kernel evidence, each namespace's iterator pass is its socket list (null: not read so).
  const passes: (Buffer | null)[] = foreign.map(() => null);
  let enterWhy: string;
  if (opts.source === 'procfs') enterWhy = 'procfs source requested';
  else if (!privileged) enterWhy = 'no CAP_SYS_ADMIN to enter the namespace (setns)';
  else {
    enterWhy = '';
    try {
      const binding: SockDiagBinding = loadSockDiag(opts.nativeDir);
      if (!binding.dumpNamespaces) throw new Error('the sock_diag addon predates dumpNamespaces: rebuild it');
      if (binding.RECORD_SIZE !== RECORD_SIZE || binding.LAYOUT_VERSION !== LAYOUT_VERSION) throw new Error('sock_diag record layout mismatch: rebuild the addon');
      const target = (i: number) => ({ path: foreign[i].path ?? '/nonexistent', inode: foreign[i].inode });
      const read = foreign.map((_, i) => i).filter((i) => kept[i] === null);
      const iterateIn = opts.iterateIn;
      if (read.length > 0) {
        const got = await binding.dumpNamespaces(read.map(target), { tcpInfo: opts.tcpInfo === true, sockets: !iterateIn });
        read.forEach((i, j) => (dumps[i] = got[j]));
      }
      if (iterateIn) {
        // Each pass walks the host's whole table in the kernel, on a pool thread.
        const entered = read.filter((i) => dumps[i]?.error === undefined);
        await twoAtATime(entered.length, async (k) => {
          const { path, inode } = target(entered[k]);
          passes[entered[k]] = await iterateIn(path, inode).catch(() => null);
        });
        // A pass that failed: that namespace's sockets from sock_diag after all.
        const again = entered.filter((i) => passes[i] === null);
        if (again.length > 0) {
          const got = await binding.dumpNamespaces(again.map(target), { tcpInfo: opts.tcpInfo === true });
          again.forEach((i, j) => (dumps[i] = got[j]));
        }
      }
    } catch (e) {
      enterWhy = `sock_diag: ${(e as Error).message}`;
    }
  }

  await Promise.all(
    foreign.map(async (ns, i) => {
      const base = { id: ns.id, name: ns.name, pids: ns.pids, container: ns.container, self: false };
      const k = kept[i];
      if (k) {
        parts.push({ info: { ...k.info, ...base, readAt: k.walkedAt }, sockets: k.sockets });
        return;
      }
      const d = dumps[i];
      if (d && d.error === undefined) {
        const pass = passes[i];
        const sockets = pass ? socketsFromKernelTable(KernelRecordTable.from([pass])) : decodeSockDiag(d.records);
        tag(sockets, ns.id, false);
        const { host, note } = hostFromDump(ns.id, d.portRange, d.reservedPorts);
        const info = { ...base, host, source: pass ? ('ebpf' as const) : ('netlink' as const), reason: note };
        walks?.dumped(ns.id, collectedAt, info, sockets, pass);
        parts.push({ info: { ...info, readAt: collectedAt }, sockets });
        return;
      }
      if (d && d.vanished) return; // gone while we looked: not an error
      const why = d ? `sock_diag: ${d.error.message}` : enterWhy;
      if (ns.pids.length === 0) {
        parts.push({ info: { ...base, host: assumedHost(ns.id), source: 'none', reason: `${why}; no visible process to read /proc/PID/net/tcp through` }, sockets: [] });
        return;
      }
      try {
        const sockets = await readViaProcfs(procRoot, ns);
        if (sockets === null) return; // every process exited: the namespace is gone
        tag(sockets, ns.id, true);
        parts.push({
          info: { ...base, host: assumedHost(ns.id), source: 'procfs', reason: `${why}; sockets read from /proc/${ns.pids[0]}/net/tcp{,6}, port range assumed 32768-60999`, readAt: collectedAt },
          sockets,
        });
      } catch (e) {
        parts.push({ info: { ...base, host: assumedHost(ns.id), source: 'none', reason: `${why}; procfs: ${(e as Error).message}` }, sockets: [] });
      }
    }),
  );

  // Stable order: own namespace first, then the discovery order.
  const order = new Map(discovery.namespaces.map((n, i) => [n.id, i]));
  parts.sort((a, b) => (a.info.self ? -1 : b.info.self ? 1 : (order.get(a.info.id) ?? 0) - (order.get(b.info.id) ?? 0)));
  // One namespace (most hosts without containers): its list as it is, not copied.
  let sockets: Socket[] = parts[0].sockets;
  if (parts.length > 1) {
    sockets = [];
    for (const p of parts) for (const s of p.sockets) sockets.push(s);
  }
  const snap: Snapshot = {
    source: own.source,
    fallbackReason: own.fallbackReason,
    collectedAt,
    durationMs: 0,
    host: parts[0].info.host,
    sockets,
    processes: null,
    namespaces: parts.map((p) => p.info),
  };
  return finish(snap, opts, procRoot, t0, collectedAt);
}

async function finish(snap: Snapshot, opts: AllNamespacesOptions, procRoot: string, t0: number, collectedAt?: number): Promise<Snapshot> {
  let processes: ProcessMap | null = null;
  if (opts.processes) {
    const inodes: number[] = [];
    for (const s of snap.sockets) if (s.inode !== 0) inodes.push(s.inode);
    processes = await (opts.resolver ?? resolverFor(procRoot)).resolve(inodes);
  }
  snap.processes = processes;
  if (collectedAt !== undefined) snap.collectedAt = collectedAt;
  snap.durationMs = performance.now() - t0;
  return snap;
}
