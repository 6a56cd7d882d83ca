// Builders of ConnectionLife records for the history store's tests and benchmark.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { ConnectionLife } from '../../src/history';
import { addressKey } from '../../src/history/cidr';
import { migrate } from '../../src/history/schema';

export function life(over: Partial<ConnectionLife> & { key: string }): ConnectionLife {
  return {
    netns: 'net:[4026531840]', family: 'IPV4',
    localAddress: '10.0.0.2', localPort: 443, remoteAddress: '10.1.2.3', remotePort: 50000,
    direction: 'INBOUND', confidence: 0.9, certain: true, rule: 'listener',
    openedAt: 1_000_000, closedAt: null, firstSeenAt: over.openedAt ?? 1_000_000, preExisting: false,
    pid: 100, command: 'nginx', bytesSent: null, bytesReceived: null, retransmits: null, observedBy: 'KERNEL',
    ...over,
  };
}

/**
 * A history file left at schema `version` by an older tcpdir, holding two rows: id 7 closed (key
 * 'closed') and id 9 open (key 'open'), both 10.0.0.2:443 <- 10.1.2.3:50000, INBOUND.
 */
export function oldHistoryFile(path: string, version: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const raw = new Database(path);
  raw.pragma('journal_mode = WAL');
  migrate(raw, path, version);
  const ins = raw.prepare(`INSERT INTO lives (id, key, family, local_address, local_port, remote_address, remote_key, remote_port,
    direction, confidence, certain, opened_at, closed_at, first_seen_at, started_at, pre_existing, observed_by, flow_closed)
    VALUES (?, ?, 'IPV4', '10.0.0.2', 443, '10.1.2.3', ?, 50000, 'INBOUND', 1, 1, ?, ?, ?, ?, 0, 'KERNEL', ?)`);
  ins.run(7, 'closed', addressKey('10.1.2.3'), 1_000_000, 1_001_000, 1_000_000, 1_000_000, 1);
  ins.run(9, 'open', addressKey('10.1.2.3'), 1_002_000, null, 1_002_000, 1_002_000, 0);
  raw.close();
}
