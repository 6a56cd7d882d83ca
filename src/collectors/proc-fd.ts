import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ProcessMap, ProcessRef } from '../model';
import { DEFAULT_PROC_ROOT } from './host-paths';
import { twoAtATime } from './two-lanes';

/** Field 22 (starttime) of /proc/PID/stat, as text. Pure; null when the line is malformed. */
export function parseStatStarttime(stat: string): string | null {
  // comm (field 2) is in parentheses and may itself contain spaces and ')': cut at the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const v = rest[19];
  return v !== undefined && /^\d+$/.test(v) ? v : null;
}

/** "socket:[12345]" -> 12345; anything else (files, pipes, anon inodes) -> 0. Pure. */
export function parseSocketLink(target: string): number {
  if (!target.startsWith('socket:[')) return 0;
  const n = Number(target.slice(8, -1));
  return Number.isSafeInteger(n) ? n : 0;
}

interface PidEntry {
  starttime: string;
  /** st_size of /proc/PID/fd: the open-fd count on Linux >= 6.2, 0 on older kernels. */
  fdCount: number;
  ref: ProcessRef;
  /** Shared one-owner list handed out in ProcessMaps. */
  only: readonly ProcessRef[];
  /**
   * Inodes of its socket fds, as of the last scan (a dup'ed one may repeat); empty when the fd dir
   * was not readable. An array, not a map to fd numbers: nothing reads the fds, and at 100k
   * sockets the maps held 6.4 MB against 0.8 MB.
   */
  sockets: Float64Array;
  denied: boolean;
}

/** What the last resolve() did; for tests and benchmarks. */
export interface ResolveStats {
  pids: number;
  /** Pids whose fd table was (re)read: new, changed, or searched for a missing inode. */
  pidsScanned: number;
  /** readlink calls. */
  fdsRead: number;
  /** Pids whose fd directory was not readable (EACCES): their sockets stay without owners. */
  pidsDenied: number;
  durationMs: number;
  /** Longest synchronous stretch, i.e. the worst event-loop block this call caused. */
  longestSliceMs: number;
}

export interface ProcessResolverOptions {
  /** Yield to the event loop after this many ms of synchronous /proc reading. Default 8. */
  sliceMs?: number;
  /** Reads an fd table's socket links in C (the sockdiag addon's socketFds); else readlink from JS. */
  socketFds?: SocketFdsReader;
}

/**
 * One batch of at most `max` links of an fd directory from offset `pos`, read off the event loop:
 * [fd, inode] pairs of its sockets, links read, and the offset to go on from (-1 at the end).
 * Rejects with `code` when the directory cannot be opened (native/sockdiag/proc-fd.cc).
 */
export type SocketFdsReader = (dir: string, pos: number, max: number) => Promise<{ sockets: Float64Array; read: number; next: number }>;

const noop = (): void => undefined;

const NO_SOCKETS = new Float64Array(0);

/** The inodes of native batches of [fd, inode] pairs, in one array. */
function inodesOfPairs(batches: readonly Float64Array[]): Float64Array {
  let n = 0;
  for (const b of batches) n += b.length >> 1;
  const out = new Float64Array(n);
  let k = 0;
  for (const b of batches) for (let i = 1; i < b.length; i += 2) out[k++] = b[i];
  return out;
}

/** Links per native batch (a pool thread's read; most tables are one batch). */
const FD_BATCH = 65536;

/**
 * Maps socket inodes to the processes holding them by reading /proc/<tgid>/fd, like `ss -p`,
 * but remembering what it read. Each call re-reads only the fd tables of pids that are new, whose
 * starttime changed (pid reuse) or whose open-fd count changed, plus (stopping as soon as every
 * requested inode is found) unchanged pids when a requested inode is still unknown. Inodes that a
 * scan of every readable pid could not place (kernel sockets, other users' processes) are
 * remembered and do not trigger another search while they keep being requested.
 *
 * Known blind spot: a pid that closes a socket fd and opens another fd between two calls keeps its
 * count, so the closed inode can stay attributed to it if that socket lives on in another process.
 *
 * Reads use the synchronous fs calls (2-3x faster than fs.promises here, see the report) in
 * slices of at most `sliceMs`, yielding to the event loop between slices.
 */
export class ProcessResolver {
  private readonly pids = new Map<number, PidEntry>();
  /** inode -> pids holding it (several after fork or SCM_RIGHTS). */
  private readonly owners = new Map<number, readonly ProcessRef[]>(); // shared, frozen: handed out as is
  /** Inodes no readable fd table holds (kernel sockets, denied pids) -> generation last asked. */
  private readonly unresolvable = new Map<number, number>();
  private generation = 0;
  private readonly sliceMs: number;
  private readonly socketFds: SocketFdsReader | undefined;
  private sizeIsCount: boolean | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** Pids whose tables warm() read: the next resolve() does not search them again. */
  private warmed: ReadonlySet<number> | null = null;
  lastStats: ResolveStats | null = null;

  constructor(
    readonly root = DEFAULT_PROC_ROOT,
    opts: ProcessResolverOptions = {},
  ) {
    this.sliceMs = opts.sliceMs ?? 8;
    this.socketFds = opts.socketFds;
  }

  /** Owners of the given inodes (0 and unknown inodes are absent from the map). Calls are serialised. */
  resolve(inodes: Iterable<number>): Promise<ProcessMap> {
    const run = this.running.then(() => this.resolveNow(inodes));
    // Only the order is kept: `run.catch` would hold the last answer (a map of every socket's
    // owners, 3.5 MB at 100k) until the next call.
    this.running = run.then(noop, noop);
    return run;
  }

  /**
   * Reads every fd table now, before the inodes are known (a one-shot `list` does it while its
   * snapshot is taken): the next resolve() re-reads only the tables that changed since, and does
   * not search those read here again for inodes it cannot place. So a socket swapped in between
   * on the same fd goes without owner, as with `ss -p`, which reads the tables before the sockets.
   */
  warm(): Promise<void> {
    const run = this.running.then(async () => {
      await this.resolveNow([]);
      this.warmed = new Set(this.pids.keys());
    });
    this.running = run.then(noop, noop);
    return run;
  }

  private async resolveNow(inodesIn: Iterable<number>): Promise<ProcessMap> {
    const t0 = performance.now();
    const warmed = this.warmed;
    this.warmed = null;
    const stats: ResolveStats = { pids: 0, pidsScanned: 0, fdsRead: 0, pidsDenied: 0, durationMs: 0, longestSliceMs: 0 };
    let sliceStart = t0;
    let ops = 0;
    // Checking the clock every 64 steps keeps the check cheap; awaiting only when a slice is used up
    // keeps the hot loops free of promise allocation.
    const maybeYield = (): Promise<void> | undefined => {
      if ((++ops & 63) !== 0) return undefined;
      const now = performance.now();
      if (now - sliceStart < this.sliceMs) return undefined;
      stats.longestSliceMs = Math.max(stats.longestSliceMs, now - sliceStart);
      return new Promise<void>((r) => setImmediate(r)).then(() => { sliceStart = performance.now(); });
    };

    if (this.sizeIsCount === undefined) {
      // This process always has fds open, so a zero size means the kernel does not count them.
      this.sizeIsCount = (statSync(`${this.root}/self/fd`, { throwIfNoEntry: false })?.size ?? 0) > 0;
    }
    // 1. Which tgids exist now, and did their fd tables change?
    const live = new Set<number>();
    const toScan: Array<[number, { starttime: string; fdCount: number }]> = [];
    for (const name of readdirSync(this.root)) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      const probe = this.probe(pid);
      { const y = maybeYield(); if (y) await y; }
      if (probe === null) continue; // exited between readdir and stat
      live.add(pid);
      const old = this.pids.get(pid);
      const same = old !== undefined && old.starttime === probe.starttime && old.fdCount === probe.fdCount;
      // Before Linux 6.2 the size is always 0 and says nothing: then every pid is re-read.
      if (same && this.sizeIsCount) continue;
      if (old) this.forget(pid);
      toScan.push([pid, probe]);
    }
    for (const pid of [...this.pids.keys()]) if (!live.has(pid)) this.forget(pid);
    stats.pids = live.size;

    // 2. Re-read the fd tables that changed; this keeps the cache exact for those pids. With the
    // native reader they are read on pool threads, two at a time (the pool's other threads stay
    // free for a snapshot's dumps), and recorded in pid order.
    const scanned = new Set<number>();
    if (this.socketFds) {
      const entries: (PidEntry | null)[] = new Array(toScan.length).fill(null);
      await twoAtATime(toScan.length, async (k) => {
        entries[k] = await this.readTable(toScan[k][0], toScan[k][1], stats, maybeYield);
      });
      for (const e of entries) if (e) this.record(e);
    } else {
      for (const [pid, probe] of toScan) await this.scan(pid, probe, stats, maybeYield);
    }
    for (const [pid] of toScan) scanned.add(pid);

    // 3. Answer from the cache; note what it cannot answer.
    const out = new Map<number, readonly ProcessRef[]>();
    const missing = new Set<number>();
    const gen = ++this.generation;
    const answer = (ino: number): boolean => {
      const holders = this.owners.get(ino);
      if (holders === undefined) return false;
      out.set(ino, holders);
      return true;
    };
    for (const ino of inodesIn) {
      { const y = maybeYield(); if (y) await y; }
      if (ino === 0 || answer(ino)) continue;
      if (this.unresolvable.has(ino)) this.unresolvable.set(ino, gen);
      else missing.add(ino);
    }
    // Forget unplaceable inodes nobody asks about any more (their sockets closed).
    for (const [ino, g] of this.unresolvable) if (g !== gen) this.unresolvable.delete(ino);

    // 4. Unknown inodes: search unchanged pids too (a pid can swap fds and keep its count),
    // most socket-rich first, stopping once all are found.
    if (missing.size > 0) {
      const rest = [...this.pids.entries()]
        .filter(([pid, e]) => !scanned.has(pid) && !e.denied && !warmed?.has(pid))
        .sort((a, b) => b[1].sockets.length - a[1].sockets.length)
        .map(([pid]) => pid);
      for (const pid of rest) {
        if (missing.size === 0) break;
        const probe = this.probe(pid);
        this.forget(pid);
        if (probe === null) continue;
        await this.scan(pid, probe, stats, maybeYield);
        for (const ino of this.pids.get(pid)?.sockets ?? []) if (missing.delete(ino)) answer(ino);
      }
      for (const ino of missing) this.unresolvable.set(ino, gen);
    }
    const end = performance.now();
    stats.longestSliceMs = Math.max(stats.longestSliceMs, end - sliceStart);
    stats.durationMs = end - t0;
    this.lastStats = stats;
    return out;
  }

  /** starttime and fd count of a tgid, or null when it is gone (or not a readable process). */
  private probe(pid: number): { starttime: string; fdCount: number } | null {
    const base = `${this.root}/${pid}`;
    try {
      const starttime = parseStatStarttime(readFileSync(`${base}/stat`, 'latin1'));
      if (starttime === null) return null;
      const st = statSync(`${base}/fd`, { throwIfNoEntry: false });
      return st === undefined ? null : { starttime, fdCount: st.size };
    } catch {
      return null; // ENOENT/ESRCH: the process exited mid-scan
    }
  }

  private async scan(pid: number, probe: { starttime: string; fdCount: number }, stats: ResolveStats, maybeYield: () => Promise<void> | undefined): Promise<void> {
    const e = await this.readTable(pid, probe, stats, maybeYield);
    if (e) this.record(e);
  }

  /** A pid's fd table as an entry (denied: an entry without sockets); null when it exited. */
  private async readTable(
    pid: number,
    probe: { starttime: string; fdCount: number },
    stats: ResolveStats,
    maybeYield: () => Promise<void> | undefined,
  ): Promise<PidEntry | null> {
    const base = `${this.root}/${pid}`;
    let command: string;
    try {
      command = readFileSync(`${base}/comm`, 'latin1').replace(/\n$/, '');
    } catch {
      return null; // exited
    }
    stats.pidsScanned++;
    const ref: ProcessRef = Object.freeze({ pid, command });
    const entry: PidEntry = { ...probe, ref, only: Object.freeze([ref]), sockets: NO_SOCKETS, denied: false };
    try {
      if (this.socketFds) {
        const batches: Float64Array[] = [];
        for (let pos = 0; pos >= 0; ) {
          const batch = await this.socketFds(`${base}/fd`, pos, FD_BATCH);
          stats.fdsRead += batch.read;
          batches.push(batch.sockets);
          pos = batch.next;
        }
        entry.sockets = inodesOfPairs(batches);
      } else {
        const inodes: number[] = [];
        for (const fd of readdirSync(`${base}/fd`)) {
          let target: string;
          try {
            target = readlinkSync(`${base}/fd/${fd}`);
          } catch {
            continue; // fd closed since readdir
          }
          stats.fdsRead++;
          const ino = parseSocketLink(target);
          if (ino !== 0) inodes.push(ino);
          { const y = maybeYield(); if (y) await y; }
        }
        entry.sockets = Float64Array.from(inodes);
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        // Another user's process without privilege: its sockets simply have no known owner.
        entry.denied = true;
        stats.pidsDenied++;
        return entry;
      }
      return null; // ENOENT: exited
    }
    return entry;
  }

  /** Keeps a pid's entry and makes it an owner of its sockets. */
  private record(entry: PidEntry): void {
    const pid = entry.ref.pid;
    this.pids.set(pid, entry);
    for (const ino of entry.sockets) {
      const h = this.owners.get(ino);
      if (h === undefined) this.owners.set(ino, entry.only);
      else if (!h.some((r) => r.pid === pid)) this.owners.set(ino, Object.freeze([...h, entry.ref]));
      this.unresolvable.delete(ino);
    }
  }

  private forget(pid: number): void {
    const e = this.pids.get(pid);
    if (!e) return;
    this.pids.delete(pid);
    for (const ino of e.sockets) {
      const h = this.owners.get(ino);
      if (!h) continue;
      if (h.length === 1) {
        if (h[0].pid === pid) this.owners.delete(ino);
        continue;
      }
      const rest = h.filter((r) => r.pid !== pid);
      if (rest.length === 0) this.owners.delete(ino);
      else this.owners.set(ino, rest.length === 1 ? this.pids.get(rest[0].pid)?.only ?? Object.freeze(rest) : Object.freeze(rest));
    }
  }
}

/** One-shot lookup without a cache: inode -> owners. */
export async function readProcessMap(inodes: Iterable<number>, root = DEFAULT_PROC_ROOT): Promise<ProcessMap> {
  return new ProcessResolver(root).resolve(inodes);
}
