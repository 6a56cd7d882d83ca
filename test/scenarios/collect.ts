// Runs inside the agent namespace (`ip netns exec AGENT node dist/test/scenarios/collect.js
// --source netlink|procfs`): one snapshot, classified, printed as JSON on stdout. A separate
// process because a snapshot must be taken from inside the namespace it describes.
// --serve: stays up and prints one snapshot per line read on stdin; with --history it carries
// memory from one snapshot to the next as the service does (HistoryKeeper).
import { createInterface } from 'node:readline';
import { collectSnapshot } from '../../src/collectors/snapshot';
import { classify } from '../../src/classifier';
import { HistoryKeeper } from '../../src/service/history-keeper';
import type { HostFacts, Socket, SourceName, Verdict } from '../../src/model';

export interface CollectedRow {
  state: string;
  local: string;
  lport: number;
  remote: string;
  rport: number;
  /** null for LISTEN sockets (the classifier judges only connections). */
  verdict: Verdict | null;
  socket: Socket;
}

export interface CollectOutput {
  source: SourceName;
  fallbackReason: string | null;
  durationMs: number;
  host: HostFacts;
  rows: CollectedRow[];
  /** Socket inode -> owners, as entries (a Map does not survive JSON). */
  processes: Array<[number, Array<{ pid: number; command: string }>]> | null;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function snapshotOnce(source: 'netlink' | 'procfs' | 'auto', keeper: HistoryKeeper | null): Promise<void> {
  const snapshot = await collectSnapshot({ source, processes: !process.argv.includes('--no-processes') });
  if (keeper) snapshot.history = keeper.observe(snapshot);
  const verdicts = classify(snapshot);
  const out: CollectOutput = {
    source: snapshot.source,
    fallbackReason: snapshot.fallbackReason,
    durationMs: snapshot.durationMs,
    host: snapshot.host,
    rows: snapshot.sockets.map((s) => ({
      state: s.state,
      local: s.localAddress,
      lport: s.localPort,
      remote: s.remoteAddress,
      rport: s.remotePort,
      verdict: verdicts.get(s.id) ?? null,
      socket: s,
    })),
    processes: snapshot.processes
      ? [...snapshot.processes].map(([inode, refs]) => [inode, refs.map((r) => ({ pid: r.pid, command: r.command }))])
      : null,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function main(): Promise<void> {
  const source = argValue('--source') ?? 'netlink';
  if (source !== 'netlink' && source !== 'procfs' && source !== 'auto') {
    throw new Error(`--source must be netlink, procfs or auto, not ${source}`);
  }
  const keeper = process.argv.includes('--history') ? new HistoryKeeper() : null;
  if (!process.argv.includes('--serve')) return snapshotOnce(source, keeper);
  // One request at a time: snapshots are taken in the order they were asked for.
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === 'quit') break;
    await snapshotOnce(source, keeper);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`collect: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
