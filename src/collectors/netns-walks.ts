import type { NetnsInfo, Socket } from '../model';

/**
 * The last walk of each other namespace's TCP table, kept between collections.
 *
 * The kernel keeps one socket table for the whole host, and reading one namespace walks all of
 * it: on a host with many namespaces that was most of a collection (one empty namespace beside
 * 100k sockets added 68 ms, when each was walked twice).
 * The BPF programs count, per namespace, every TCP state change and every SYN-ACK sent again
 * (KernelEvidenceSource.netnsChanges). A namespace whose count has not moved since before its
 * last walk is served from that walk, unless the walk held a socket that can change without a
 * count:
 * - TIME_WAIT, and request sockets (SYN_RECV): they expire or go without a state change;
 * - an ESTABLISHED or CLOSE_WAIT socket without an inode (in an accept queue), and a listener
 *   with a queue: accept() gives the socket its inode and shortens the queue without one.
 * A request socket that came after the walk is counted at its first SYN-ACK retransmission (1 s):
 * one younger than that can be missing, as from a walk made a moment earlier. Every namespace is
 * walked again at least every `maxAgeMs` all the same (its sysctls too).
 */
export class NetnsWalks {
  private readonly walks = new Map<string, Walk>();

  constructor(private readonly maxAgeMs = 10_000) {}

  /** What one collection reads and keeps (collections may overlap: each has its own counts). */
  pass(): WalkPass {
    return new WalkPass(this.walks, this.maxAgeMs);
  }
}

export class WalkPass {
  /** Counts read at the start of this collection, by namespace id. */
  private counts = new Map<string, number>();
  /** Walks this collection kept, and the ones it made. */
  private readonly kept = new Map<string, Walk>();
  private readonly made = new Map<string, Walk>();
  /** Iterator passes read in this collection, by namespace. */
  private readonly passes = new Map<string, Buffer>();

  constructor(private readonly walks: Map<string, Walk>, private readonly maxAgeMs: number) {}

  /**
   * Reads the change counts of these namespaces, before any is walked (a change after this
   * read moves the count past it). `read` answers null when the kernel does not count changes:
   * then every namespace is walked.
   */
  begin(namespaces: readonly { id: string; inode: number }[], read: ((inodes: number[]) => Float64Array | null) | undefined): void {
    const got = read && namespaces.length > 0 ? read(namespaces.map((n) => n.inode)) : null;
    if (got) namespaces.forEach((n, i) => this.counts.set(n.id, got[i]));
    const live = new Set(namespaces.map((n) => n.id));
    for (const id of this.walks.keys()) if (!live.has(id)) this.walks.delete(id); // gone
  }

  /** The last walk of `id`, when nothing that walk could show has changed since (else null). */
  unchanged(id: string, now: number): Walk | null {
    const w = this.walks.get(id);
    const count = this.counts.get(id);
    if (!w || count === undefined || w.count !== count || !w.settled || w.iterator === null || now - w.walkedAt > this.maxAgeMs) return null;
    this.kept.set(id, w);
    return w;
  }

  /**
   * `id` was read at `at`: its namespace facts and sockets, with the count read before, and the
   * iterator's records when they were the socket list (else iterated() adds them).
   */
  dumped(id: string, at: number, info: Omit<NetnsInfo, 'readAt'>, sockets: Socket[], records: Buffer | null = null): void {
    if (records) this.passes.set(id, records);
    const count = this.counts.get(id);
    if (count === undefined) return;
    const w: Walk = { count, walkedAt: at, settled: settled(sockets), info, sockets, iterator: records };
    this.made.set(id, w);
    this.walks.set(id, w);
  }

  /** The iterator's records of `id` in this collection (kept, or read with its socket list); null when still to read. */
  records(id: string): Buffer | null {
    return this.kept.get(id)?.iterator ?? this.passes.get(id) ?? null;
  }

  /** The eBPF iterator's pass in `id`, read after its dump: the walk is whole (and reusable). */
  iterated(id: string, records: Buffer): void {
    this.passes.set(id, records);
    const w = this.made.get(id);
    if (w) w.iterator = records;
  }
}

export interface Walk {
  count: number;
  walkedAt: number;
  settled: boolean;
  info: Omit<NetnsInfo, 'readAt'>;
  sockets: Socket[];
  /** The iterator's raw records from the same walk; null until read. */
  iterator: Buffer | null;
}

/** Nothing in these sockets changes without a state change or a SYN-ACK sent again. */
export function settled(sockets: readonly Socket[]): boolean {
  for (const s of sockets) {
    switch (s.state) {
      case 'TIME_WAIT':
      case 'SYN_RECV':
      case 'NEW_SYN_RECV':
        return false;
      // No inode yet: in an accept queue (a peer's FIN may have come first). Orphans (closed by
      // their process: FIN_WAIT1/2, CLOSING, LAST_ACK) have none either, but never get one.
      case 'ESTABLISHED':
      case 'CLOSE_WAIT':
        if (s.inode === 0) return false;
        break;
      case 'LISTEN':
        if (s.rqueue > 0) return false;
        break;
      default:
    }
  }
  return true;
}
