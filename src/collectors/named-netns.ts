import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_NETNS_DIR, DEFAULT_PROC_ROOT } from './host-paths';

/** The bind mounts of a /run/netns directory: nsfs inode -> names (sorted). */
export interface NamedNetns {
  byInode: Map<number, string[]>;
  /** Entries that are no namespace (yet): `ip netns add` creates the file, then mounts over it. */
  placeholders: number;
  /** The directory exists. */
  present: boolean;
}

async function readNamed(runNetnsDir: string, procRoot: string): Promise<NamedNetns> {
  const byInode = new Map<number, string[]>();
  let names: string[];
  try {
    names = (await readdir(runNetnsDir)).sort();
  } catch {
    return { byInode, placeholders: 0, present: false };
  }
  // Every nsfs file shares one device: a placeholder left on tmpfs by a half-failed
  // `ip netns add` (or a stray file) is no namespace.
  const nsfsDev = await stat(join(procRoot, 'self', 'ns', 'net')).then((s) => s.dev, () => null);
  let placeholders = 0;
  await Promise.all(
    names.map(async (name) => {
      try {
        const st = await stat(join(runNetnsDir, name));
        if (nsfsDev !== null ? st.dev !== nsfsDev : st.size !== 0) {
          placeholders++;
          return;
        }
        const list = byInode.get(st.ino);
        if (list) list.push(name);
        else byInode.set(st.ino, [name]);
      } catch {
        // Deleted between readdir and stat.
      }
    }),
  );
  for (const list of byInode.values()) list.sort();
  return { byInode, placeholders, present: true };
}

/** name -> nsfs inode for every bind mount in /run/netns; empty when the directory is absent. */
export async function readNamedNetns(runNetnsDir = DEFAULT_NETNS_DIR, procRoot = DEFAULT_PROC_ROOT): Promise<Map<number, string[]>> {
  return (await readNamed(runNetnsDir, procRoot)).byInode;
}

/**
 * /run/netns read again only when inotify (fs.watch) says it changed. `ip netns add` creates
 * the file and then bind-mounts the namespace over it, and a mount raises no inotify event: while
 * any entry is still a placeholder the directory is read every time. Without a watch (the
 * directory absent, inotify unavailable or out of watches) it is read every time too; a mount
 * made over an existing file without creating it is caught by the owner's full rescan (forget()).
 */
export class NamedNetnsWatch {
  private last: NamedNetns | null = null;
  private watcher: FSWatcher | null = null;
  private closed = false;
  /** Bumped by every change seen: a read that overlapped one is not kept. */
  private generation = 0;

  constructor(private readonly dir: string, private readonly procRoot: string, private readonly watching = true) {}

  async read(): Promise<Map<number, string[]>> {
    if (this.last && this.watcher && this.last.placeholders === 0) return this.last.byInode;
    // Watch before reading, so a change made during the read marks the result stale.
    if (!this.watcher && !this.closed && this.watching) this.startWatch();
    const gen = this.generation;
    const r = await readNamed(this.dir, this.procRoot);
    if (!r.present) this.stopWatch();
    this.last = gen === this.generation ? r : null;
    return r.byInode;
  }

  /** Drops what was read: the next read() reads the directory again. */
  forget(): void {
    this.generation++;
    this.last = null;
  }

  close(): void {
    this.closed = true;
    this.stopWatch();
  }

  private startWatch(): void {
    try {
      const w = watch(this.dir, { persistent: false }, () => this.forget());
      w.on('error', () => this.stopWatch());
      this.watcher = w;
    } catch {
      // ENOENT (no namespace named yet), ENOSPC (out of inotify watches): read every time.
    }
  }

  private stopWatch(): void {
    this.watcher?.close();
    this.watcher = null;
    this.last = null;
  }
}
