import { performance } from 'node:perf_hooks';
import type { HostFacts, ProcessMap, Snapshot, Socket, SourceName } from '../model';
import { readNetnsId } from './netns-id';
import { readPortRange, readReservedPorts } from './port-range';
import { ProcessResolver } from './proc-fd';
import { readProcNetTcp } from './proc-net-tcp';
import { loadSockDiag } from './native';
import { readSockDiag, type SockDiagReuse } from './sockdiag';
import type { EbpfPass } from './kernel/sockets';
import { DEFAULT_PROC_ROOT } from './host-paths';

export interface CollectOptions {
  /**
   * auto (default): the eBPF iterator when `ebpf` is given, else netlink, falling back to
   * /proc/net/tcp{,6} when netlink fails.
   */
  source?: 'auto' | SourceName;
  /**
   * An eBPF iterator pass (KernelEvidenceSource.scan) to serve as the socket list: the same pass
   * then gives the kernel evidence, and no sock_diag dump is made (bench:snapshot measures both).
   */
  ebpf?: () => Promise<EbpfPass>;
  /** Where procfs is mounted (fixtures use a copied tree). Netlink always reads the live kernel. */
  procRoot?: string;
  /** Map socket inodes to processes (costs a /proc/<pid>/fd scan, cached between calls). */
  processes?: boolean;
  /** Resolver to keep its cache across calls; default: one shared resolver per procRoot. */
  resolver?: ProcessResolver;
  /** Directory holding tcpdir_sockdiag.node; default build/Release. */
  nativeDir?: string;
  /** The consumer's last netlink dump, so that this one reuses the sockets that did not change. */
  netlinkReuse?: SockDiagReuse;
  /**
   * Have the netlink dump carry tcp_info (the syn-acked rule reads it). Worth its cost only when
   * verdicts are heuristic, i.e. without kernel evidence (docs/benchmarks.md has the cost).
   */
  tcpInfo?: boolean;
}

const sharedResolvers = new Map<string, ProcessResolver>();

function defaultResolver(root: string): ProcessResolver {
  let r = sharedResolvers.get(root);
  if (!r) {
    r = new ProcessResolver(root);
    sharedResolvers.set(root, r);
  }
  return r;
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code} ${e.message}` : e.message;
  }
  return String(e);
}

function readNetlink(nativeDir: string | undefined, reuse: SockDiagReuse | undefined, tcpInfo: boolean): Promise<Socket[]> {
  // Loading inside the promise chain turns a missing or broken addon into a rejection (-> fallback).
  return Promise.resolve().then(() => readSockDiag(tcpInfo ? { tcpInfo } : undefined, loadSockDiag(nativeDir), reuse));
}

async function readSockets(
  source: 'auto' | SourceName, procRoot: string, nativeDir?: string, ebpf?: () => Promise<EbpfPass>, reuse?: SockDiagReuse, tcpInfo = false,
): Promise<{ source: SourceName; sockets: Socket[]; fallbackReason: string | null }> {
  if (source === 'procfs') return { source, sockets: await readProcNetTcp(procRoot), fallbackReason: null };
  if (source === 'netlink') return { source, sockets: await readNetlink(nativeDir, reuse, tcpInfo), fallbackReason: null };
  if (source === 'ebpf') {
    if (!ebpf) throw new Error('source ebpf needs the kernel-evidence source (an iterator pass), which is not loaded');
    return { source, sockets: (await ebpf()).sockets, fallbackReason: null };
  }
  const reasons: string[] = [];
  if (ebpf) {
    try {
      return { source: 'ebpf', sockets: (await ebpf()).sockets, fallbackReason: null };
    } catch (e) {
      reasons.push(`ebpf: ${describe(e)}`);
    }
  }
  try {
    return { source: 'netlink', sockets: await readNetlink(nativeDir, reuse, tcpInfo), fallbackReason: reasons.length ? reasons.join('; ') : null };
  } catch (e) {
    reasons.push(`netlink: ${describe(e)}`);
  }
  const fallbackReason = reasons.join('; ');
  try {
    return { source: 'procfs', sockets: await readProcNetTcp(procRoot), fallbackReason };
  } catch (e2) {
    throw new Error(`no TCP socket source worked (${fallbackReason}; procfs: ${describe(e2)})`);
  }
}

/** A dump is not a snapshot: a socket can be seen twice mid-dump. Keep the first sighting. */
function dedupe(sockets: Socket[]): Socket[] {
  const seen = new Set<string>();
  let dups = false;
  for (const s of sockets) {
    if (seen.has(s.id)) { dups = true; break; }
    seen.add(s.id);
  }
  if (!dups) return sockets;
  seen.clear();
  return sockets.filter((s) => (seen.has(s.id) ? false : (seen.add(s.id), true)));
}

export async function readHostFacts(procRoot = DEFAULT_PROC_ROOT): Promise<HostFacts> {
  const [ephemeralPortRange, reservedPorts, netns] = await Promise.all([
    readPortRange(procRoot),
    readReservedPorts(procRoot),
    readNetnsId(procRoot),
  ]);
  return { ephemeralPortRange, reservedPorts, netns };
}

/** One collection of every TCP socket in this network namespace, plus host facts and owners. */
export async function collectSnapshot(opts: CollectOptions = {}): Promise<Snapshot> {
  const procRoot = opts.procRoot ?? DEFAULT_PROC_ROOT;
  const collectedAt = Date.now();
  const t0 = performance.now();
  const [read, host] = await Promise.all([readSockets(opts.source ?? 'auto', procRoot, opts.nativeDir, opts.ebpf, opts.netlinkReuse, opts.tcpInfo === true), readHostFacts(procRoot)]);
  // Netlink dumps are de-duplicated by cookie in the addon, iterator passes by socketsFromKernelTable.
  const sockets = read.source === 'procfs' ? dedupe(read.sockets) : read.sockets;
  let processes: ProcessMap | null = null;
  if (opts.processes) {
    const resolver = opts.resolver ?? defaultResolver(procRoot);
    const inodes: number[] = [];
    for (const s of sockets) if (s.inode !== 0) inodes.push(s.inode);
    processes = await resolver.resolve(inodes);
  }
  return {
    source: read.source,
    fallbackReason: read.fallbackReason,
    collectedAt,
    durationMs: performance.now() - t0,
    host,
    sockets,
    processes,
  };
}
