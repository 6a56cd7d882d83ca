// Writes one batch of lives and gap markers in one transaction, with statements prepared once.
// An upsert of a known key updates only the mutable fields; opened_at/first_seen_at (so the sort
// key started_at) never change, which keeps cursors stable. Flows are counted in the same
// transaction: the open when the row is inserted, the close once, when closed_at is first set
// (flow_closed remembers it), so repeated upserts of one life never count twice.
import type Database from 'better-sqlite3';
import { addressKey } from './cidr';
import { FlowCounter } from './flows';
import type { ConnectionLife, GapMarker } from './record';

interface Existing { id: number; flow_closed: number }
interface Merged {
  netns: string | null; direction: ConnectionLife['direction']; localPort: number; command: string | null;
  remoteAddress: string; remotePort: number; startedAt: number; closedAt: number | null;
  bytesSent: number | null; bytesReceived: number | null;
}

export interface BatchResult { inserted: number }

export class BatchWriter {
  private readonly find: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly update: Database.Statement;
  private readonly insertGap: Database.Statement;
  private readonly flows: FlowCounter;
  readonly writeBatch: (lives: readonly ConnectionLife[], gaps: readonly GapMarker[]) => BatchResult;

  constructor(db: Database.Database) {
    this.find = db.prepare('SELECT id, flow_closed FROM lives WHERE key = ?');
    this.insert = db.prepare(`
      INSERT INTO lives (key, netns, family, local_address, local_port, remote_address, remote_key, remote_port,
        direction, confidence, certain, rule, opened_at, closed_at, first_seen_at, started_at, pre_existing,
        pid, command, bytes_sent, bytes_received, retransmits, observed_by, flow_closed)
      VALUES (@key, @netns, @family, @localAddress, @localPort, @remoteAddress, @remoteKey, @remotePort,
        @direction, @confidence, @certain, @rule, @openedAt, @closedAt, @firstSeenAt, @startedAt, @preExisting,
        @pid, @command, @bytesSent, @bytesReceived, @retransmits, @observedBy, @closed)`);
    // A close is final (coalesce keeps it); counters and process are replaced only when given.
    this.update = db.prepare(`
      UPDATE lives SET
        closed_at = coalesce(closed_at, @closedAt),
        bytes_sent = coalesce(@bytesSent, bytes_sent), bytes_received = coalesce(@bytesReceived, bytes_received),
        retransmits = coalesce(@retransmits, retransmits),
        direction = @direction, confidence = @confidence, certain = @certain, rule = @rule,
        pid = coalesce(@pid, pid), command = coalesce(@command, command), netns = coalesce(netns, @netns),
        -- connect() enters SYN_SENT before it has a local port: the first record may lack it.
        local_address = CASE WHEN local_port = 0 THEN @localAddress ELSE local_address END,
        local_port = CASE WHEN local_port = 0 THEN @localPort ELSE local_port END,
        flow_closed = flow_closed OR @closed
      WHERE id = @id
      RETURNING netns, direction, local_port AS localPort, command, remote_address AS remoteAddress,
        remote_port AS remotePort, started_at AS startedAt, closed_at AS closedAt,
        bytes_sent AS bytesSent, bytes_received AS bytesReceived`);
    this.insertGap = db.prepare('INSERT INTO gaps (at, lost, reason) VALUES (?, ?, ?)');
    this.flows = new FlowCounter(db);
    this.writeBatch = db.transaction((lives: readonly ConnectionLife[], gaps: readonly GapMarker[]) => {
      let inserted = 0;
      for (const life of lives) if (this.upsert(life)) inserted++;
      for (const g of gaps) this.insertGap.run(g.at, g.lost, g.reason);
      return { inserted };
    });
  }

  /** true when the life was new. */
  private upsert(l: ConnectionLife): boolean {
    const closed = l.closedAt !== null ? 1 : 0;
    const existing = this.find.get(l.key) as Existing | undefined;
    if (!existing) {
      const startedAt = l.openedAt ?? l.firstSeenAt;
      this.insert.run({
        ...l, remoteKey: addressKey(l.remoteAddress) ?? Buffer.alloc(16), startedAt,
        certain: l.certain ? 1 : 0, preExisting: l.preExisting ? 1 : 0, closed,
      });
      this.flows.opened(l, startedAt);
      if (l.closedAt !== null) this.flows.closed(l, l.closedAt, l.closedAt - startedAt, l.bytesSent, l.bytesReceived);
      return true;
    }
    const m = this.update.get({
      id: existing.id, closedAt: l.closedAt, bytesSent: l.bytesSent, bytesReceived: l.bytesReceived,
      retransmits: l.retransmits, direction: l.direction, confidence: l.confidence, certain: l.certain ? 1 : 0,
      rule: l.rule, pid: l.pid, command: l.command, closed, netns: l.netns, localAddress: l.localAddress, localPort: l.localPort,
    }) as Merged;
    if (closed && !existing.flow_closed && m.closedAt !== null) {
      this.flows.closed(m, m.closedAt, m.closedAt - m.startedAt, m.bytesSent, m.bytesReceived);
    }
    return false;
  }
}
