// Writes one batch of lives and gap markers in one transaction, with statements prepared once.
// An upsert of a known key updates only the mutable fields; opened_at/first_seen_at (so the sort
// key started_at) never change, which keeps cursors stable. Flows are counted in the same
// transaction: the open when the row is inserted, the close once, when closed_at is first set
// (flow_closed remembers it), so repeated upserts of one life never count twice.
// Keys have no unique index (an index entry per life, for the few lives written more than
// once): the writer remembers the rows of the keys it wrote open, and lately closed keys, and
// finds any other known key by (started_at, key) on lives_started.
// Lives new to the store and already closed (churn) go into one columnar block per transaction
// (blocks.ts) when there are at least minBlockLives of them; fewer are written as rows (a block
// per quiet flush would leave many tiny blocks for queries to walk). A block is immutable. Keys
// first written closed are not remembered, as before blocks (adding them to closedKeys took 3 of
// the 8.4 µs per life left, bench:events-pipeline): the recorder writes a life's close once, as
// its last write.
import type Database from 'better-sqlite3';
import { encodeBlock, MAX_BLOCK_LIVES } from './blocks';
import { addressKey } from './cidr';
import { FlowCounter } from './flows';
import { OpenRowIds } from './open-row-ids';
import { RecentKeys } from './recent-keys';
import { keyOf, type ClosedKernelLife, type ConnectionLife, type GapMarker, type WrittenLife } from './record';


export interface BatchResult { inserted: number }

export class BatchWriter {
  private readonly find: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly update: Database.Statement;
  private readonly insertGap: Database.Statement;
  private readonly insertBlock: Database.Statement;
  /** Closed lives new to the store in this transaction, for its block. */
  private pending: WrittenLife[] = [];
  private readonly flows: FlowCounter;
  /** Upserts `lives` and appends `fresh`: lives new and closed (HistoryStore.write's closedNew). */
  readonly writeBatch: (lives: readonly ConnectionLife[], gaps: readonly GapMarker[], fresh?: readonly ClosedKernelLife[]) => BatchResult;
  /** Row ids of the lives written while open, by key (forgotten when written closed). */
  private readonly openIds = new OpenRowIds();
  /** Keys lately written closed: a write of one again (none expected) looks its row up. */
  private readonly closedKeys = new RecentKeys(65_536);
  /** This batch's changes to openIds, undone if it rolls back: [key, the id it had]. */
  private readonly undo: [string, number | undefined][] = [];
  /** remote_key by address text (peers repeat). */
  private readonly remoteKeys = new Map<string, Buffer>();

  constructor(db: Database.Database, private readonly minBlockLives = 64) {
    // Positional parameters and raw rows: binding by name costs a property lookup per column
    // and per row (most of a batch's time under churn, measured with perf).
    this.find = db.prepare('SELECT id, flow_closed FROM lives INDEXED BY lives_started WHERE started_at = ? AND key = ?').raw();
    this.insert = db.prepare(`
      INSERT INTO lives (key, netns, family, local_address, local_port, remote_address, remote_key, remote_port,
        direction, confidence, certain, rule, opened_at, closed_at, first_seen_at, started_at, pre_existing,
        pid, command, bytes_sent, bytes_received, retransmits, observed_by, flow_closed)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // A close is final (coalesce keeps it); counters and process are replaced only when given.
    this.update = db.prepare(`
      UPDATE lives SET
        closed_at = coalesce(closed_at, ?),
        bytes_sent = coalesce(?, bytes_sent), bytes_received = coalesce(?, bytes_received),
        retransmits = coalesce(?, retransmits),
        direction = ?, confidence = ?, certain = ?, rule = ?,
        pid = coalesce(?, pid), command = coalesce(?, command), netns = coalesce(netns, ?),
        -- connect() enters SYN_SENT before it has a local port: the first record may lack it.
        local_address = CASE WHEN local_port = 0 THEN ? ELSE local_address END,
        local_port = CASE WHEN local_port = 0 THEN ? ELSE local_port END,
        flow_closed = flow_closed OR ?
      WHERE id = ?
      RETURNING netns, direction, local_port, command, remote_address, remote_port, started_at, closed_at,
        bytes_sent, bytes_received`).raw();
    this.insertGap = db.prepare('INSERT INTO gaps (at, lost, reason) VALUES (?, ?, ?)');
    this.insertBlock = db.prepare('INSERT INTO life_blocks (min_started, max_started, max_closed, count, ports, peers, names, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.flows = new FlowCounter(db);
    const batch = db.transaction((lives: readonly ConnectionLife[], gaps: readonly GapMarker[], fresh: readonly ClosedKernelLife[]) => {
      let inserted = 0;
      this.pending = [];
      for (const life of lives) if (this.upsert(life)) inserted++;
      for (const l of fresh) {
        this.pending.push(l);
        this.flows.openedAndClosed(l, l.openedAt, l.closedAt, l.bytesSent, l.bytesReceived);
      }
      inserted += fresh.length;
      this.writePending();
      for (const g of gaps) this.insertGap.run(g.at, g.lost, g.reason);
      this.flows.commit();
      return { inserted };
    });
    this.writeBatch = (lives, gaps, fresh = []) => {
      this.undo.length = 0;
      try {
        return batch(lives, gaps, fresh);
      } catch (e) {
        this.flows.discard();
        // The rows are rolled back: so is what was remembered of them.
        for (let i = this.undo.length - 1; i >= 0; i--) {
          const [key, id] = this.undo[i];
          if (id === undefined) this.openIds.delete(key);
          else this.openIds.set(key, id);
        }
        throw e;
      }
    };
  }

  /**
   * The store closed every open row (closeOpen): their keys, if written again, are looked up.
   */
  forgetOpen(): void {
    for (const key of this.openIds.keys()) this.closedKeys.add(key, 0);
    this.openIds.clear();
  }

  /** This transaction's new closed lives: a block, or rows when too few to be worth one. */
  private writePending(): void {
    const p = this.pending;
    this.pending = [];
    if (p.length < this.minBlockLives) {
      for (const l of p) this.insertRow(l, l.openedAt ?? l.firstSeenAt);
      return;
    }
    for (let i = 0; i < p.length; i += MAX_BLOCK_LIVES) {
      const part = p.length <= MAX_BLOCK_LIVES ? p : p.slice(i, i + MAX_BLOCK_LIVES);
      const b = encodeBlock(part, this.remoteKeyOf);
      this.insertBlock.run(b.minStarted, b.maxStarted, b.maxClosed, b.count, b.ports, b.peers, b.names, b.data);
    }
  }

  private insertRow(l: WrittenLife, startedAt: number): number {
    const closed = l.closedAt !== null ? 1 : 0;
    const ins = this.insert.run(
      keyOf(l), l.netns, l.family, l.localAddress, l.localPort, l.remoteAddress, this.remoteKey(l.remoteAddress), l.remotePort,
      l.direction, l.confidence, l.certain ? 1 : 0, l.rule, l.openedAt, l.closedAt, l.firstSeenAt, startedAt, l.preExisting ? 1 : 0,
      l.pid, l.command, l.bytesSent, l.bytesReceived, l.retransmits, l.observedBy, closed,
    );
    return Number(ins.lastInsertRowid);
  }

  private remember(key: string, id: number | null): void {
    this.undo.push([key, this.openIds.get(key)]);
    if (id === null) {
      this.openIds.delete(key);
      this.closedKeys.add(key, 0);
    } else {
      this.openIds.set(key, id);
    }
  }

  private readonly remoteKeyOf = (address: string): Buffer => this.remoteKey(address);

  private remoteKey(address: string): Buffer {
    let k = this.remoteKeys.get(address);
    if (k === undefined) {
      k = addressKey(address) ?? ZERO_KEY;
      if (this.remoteKeys.size >= 4096) this.remoteKeys.clear();
      this.remoteKeys.set(address, k);
    }
    return k;
  }

  /** true when the life was new. */
  private upsert(l: ConnectionLife): boolean {
    const closed = l.closedAt !== null ? 1 : 0;
    const startedAt = l.openedAt ?? l.firstSeenAt;
    // Most writes are new lives (a life that opened and closed within one flush is written once).
    const openId = this.openIds.get(l.key);
    let id = openId;
    let flowClosed = 0;
    if (id === undefined && this.closedKeys.has(l.key)) {
      const row = this.find.get(startedAt, l.key) as [number, number] | undefined;
      if (row) [id, flowClosed] = row;
    }
    if (id === undefined) {
      if (l.closedAt === null) {
        this.remember(l.key, this.insertRow(l, startedAt));
        this.flows.opened(l, startedAt);
      } else {
        this.pending.push(l);
        this.flows.openedAndClosed(l, startedAt, l.closedAt, l.bytesSent, l.bytesReceived);
      }
      return true;
    }
    const r = this.update.get(
      l.closedAt, l.bytesSent, l.bytesReceived, l.retransmits, l.direction, l.confidence, l.certain ? 1 : 0, l.rule,
      l.pid, l.command, l.netns, l.localAddress, l.localPort, closed, id,
    ) as [string | null, ConnectionLife['direction'], number, string | null, string, number, number, number | null, number | null, number | null];
    if (closed && openId !== undefined) this.remember(l.key, null);
    if (closed && !flowClosed && r[7] !== null) {
      const m = { netns: r[0], direction: r[1], localPort: r[2], command: r[3], remoteAddress: r[4], remotePort: r[5] };
      this.flows.closed(m, r[7], r[7] - r[6], r[8], r[9]);
    }
    return false;
  }
}

const ZERO_KEY = Buffer.alloc(16);
