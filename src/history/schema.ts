// The history database's schema, as an ordered list of migration steps. PRAGMA user_version is
// the number of steps applied; open() applies the missing ones, each in its own transaction.
// Append new steps; never edit a released one.
import type Database from 'better-sqlite3';
import { HistoryStoreError } from './errors';

type Step = (db: Database.Database) => void;

const STEPS: Step[] = [
  // 1: lives, flows, gaps.
  (db) => db.exec(`
    CREATE TABLE lives (
      id INTEGER PRIMARY KEY,           -- rowid: grows with inserts, the cursor's tie-breaker
      key TEXT NOT NULL UNIQUE,
      netns TEXT,
      family TEXT NOT NULL,
      local_address TEXT NOT NULL,
      local_port INTEGER NOT NULL,
      remote_address TEXT NOT NULL,
      remote_key BLOB NOT NULL,         -- 16 bytes, IPv4 mapped (cidr.ts): CIDR = BETWEEN
      remote_port INTEGER NOT NULL,
      direction TEXT NOT NULL,
      confidence REAL NOT NULL,
      certain INTEGER NOT NULL,
      rule TEXT,
      opened_at INTEGER,
      closed_at INTEGER,
      first_seen_at INTEGER NOT NULL,
      started_at INTEGER NOT NULL,      -- coalesce(opened_at, first_seen_at): the sort key, never updated
      pre_existing INTEGER NOT NULL,
      pid INTEGER,
      command TEXT,
      bytes_sent INTEGER,
      bytes_received INTEGER,
      retransmits INTEGER,
      observed_by TEXT NOT NULL,
      flow_closed INTEGER NOT NULL DEFAULT 0  -- 1 once its close is counted in flows (its open is counted at insert)
    );
    -- Newest first, optionally narrowed: each index ends in started_at (and the implicit rowid),
    -- so "WHERE col = ? ORDER BY started_at DESC, id DESC LIMIT n" reads n index entries.
    CREATE INDEX lives_started ON lives(started_at);
    CREATE INDEX lives_local_port ON lives(local_port, started_at);
    CREATE INDEX lives_remote_port ON lives(remote_port, started_at);
    CREATE INDEX lives_remote_key ON lives(remote_key, started_at);
    -- Few rows are open: a small index for open=true and for "open ones are kept".
    CREATE INDEX lives_open ON lives(started_at) WHERE closed_at IS NULL;
    -- Retention deletes the oldest closed lives first.
    CREATE INDEX lives_closed ON lives(closed_at) WHERE closed_at IS NOT NULL;

    -- Per-minute aggregates. Absent parts of the group are stored as '' / -1 (not NULL) so that
    -- the primary key identifies a group; flows.ts maps them back to null.
    CREATE TABLE flows (
      minute INTEGER NOT NULL,          -- ms since epoch at the minute's start
      netns TEXT NOT NULL,
      direction TEXT NOT NULL,
      local_port INTEGER NOT NULL,      -- the service port of INBOUND lives, else -1
      process TEXT NOT NULL,            -- the command of OUTBOUND lives, else ''
      remote_address TEXT NOT NULL,
      remote_port INTEGER NOT NULL,     -- the service port of OUTBOUND/UNKNOWN lives, else -1
      opened INTEGER NOT NULL DEFAULT 0,
      closed INTEGER NOT NULL DEFAULT 0,
      duration_ms INTEGER NOT NULL DEFAULT 0,
      bytes_sent INTEGER NOT NULL DEFAULT 0,
      bytes_received INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (minute, netns, direction, local_port, process, remote_address, remote_port)
    ) WITHOUT ROWID;

    CREATE TABLE gaps (
      id INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      lost INTEGER,
      reason TEXT NOT NULL
    );
    CREATE INDEX gaps_at ON gaps(at);
  `),
  // 2: two fewer index entries per life, a fifth of the insert's CPU and 17% of the file
  // (bench:events-pipeline). The key's UNIQUE index goes: the writer knows which keys it wrote
  // open (writer.ts) and finds a row by (started_at, key) on lives_started. lives_closed goes:
  // retention walks lives_started (a life starts before it closes). SQLite cannot drop a column
  // constraint: the table is copied (once, at the first start of this version).
  (db) => db.exec(`
    CREATE TABLE lives_v2 (
      id INTEGER PRIMARY KEY,
      key TEXT NOT NULL,
      netns TEXT,
      family TEXT NOT NULL,
      local_address TEXT NOT NULL,
      local_port INTEGER NOT NULL,
      remote_address TEXT NOT NULL,
      remote_key BLOB NOT NULL,
      remote_port INTEGER NOT NULL,
      direction TEXT NOT NULL,
      confidence REAL NOT NULL,
      certain INTEGER NOT NULL,
      rule TEXT,
      opened_at INTEGER,
      closed_at INTEGER,
      first_seen_at INTEGER NOT NULL,
      started_at INTEGER NOT NULL,
      pre_existing INTEGER NOT NULL,
      pid INTEGER,
      command TEXT,
      bytes_sent INTEGER,
      bytes_received INTEGER,
      retransmits INTEGER,
      observed_by TEXT NOT NULL,
      flow_closed INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO lives_v2 SELECT * FROM lives ORDER BY id;
    DROP TABLE lives;
    ALTER TABLE lives_v2 RENAME TO lives;
    CREATE INDEX lives_started ON lives(started_at);
    CREATE INDEX lives_local_port ON lives(local_port, started_at);
    CREATE INDEX lives_remote_port ON lives(remote_port, started_at);
    CREATE INDEX lives_remote_key ON lives(remote_key, started_at);
    CREATE INDEX lives_open ON lives(started_at) WHERE closed_at IS NULL;
  `),
  // 3: lives written already closed go in columnar blocks, one row per flush (blocks.ts): a row
  // and its index entries per life cost 7 µs of SQLite each. Existing rows stay where they are.
  // The blobs come last so that reading the other columns does not touch their overflow pages.
  (db) => db.exec(`
    CREATE TABLE life_blocks (
      id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: a block's lives keep their ids (b<id>.<i>)
      min_started INTEGER NOT NULL,
      max_started INTEGER NOT NULL,
      max_closed INTEGER NOT NULL,      -- every life in a block is closed: retention by age reads this
      count INTEGER NOT NULL,
      ports BLOB NOT NULL,              -- distinct local and remote ports (blocks.ts), to skip blocks
      peers BLOB NOT NULL,              -- distinct remote keys (cidr.ts), 16 bytes each, sorted
      names TEXT NOT NULL,              -- JSON: the distinct netns and command texts
      data BLOB NOT NULL
    );
    -- Newest first: queries walk blocks by max_started, retention by size by min_started.
    CREATE INDEX life_blocks_max_started ON life_blocks(max_started);
    CREATE INDEX life_blocks_min_started ON life_blocks(min_started);
    CREATE INDEX life_blocks_max_closed ON life_blocks(max_closed);
  `),
];

export const SCHEMA_VERSION = STEPS.length;

/**
 * Brings the database to SCHEMA_VERSION (tests may stop at an earlier `target`). A database from
 * a newer tcpdir is refused, not guessed at.
 */
export function migrate(db: Database.Database, path: string, target = STEPS.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > STEPS.length) {
    throw new HistoryStoreError('NEWER_SCHEMA',
      `history database ${path} has schema version ${current}, this tcpdir knows up to ${STEPS.length}: upgrade tcpdir or choose another data directory (--data-dir)`, path);
  }
  for (let v = current; v < Math.min(target, STEPS.length); v++) {
    db.transaction(() => {
      STEPS[v](db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
