// Runs inside the agent namespace (`ip netns exec AGENT node dist/test/scenarios/collect.js
// --source ebpf|netlink|procfs [--kernel|--no-kernel] [--conntrack]`): one snapshot, classified, printed as JSON on
// stdout. A separate process because a snapshot must be taken from inside the namespace it
// describes. The snapshot is built by TcpdirService, exactly as the server builds what it
// serves (collection, kernel evidence, history, classification).
// --serve: stays up and prints one snapshot per line read on stdin; with --history the service
// carries memory from one snapshot to the next.
// --probe-kernel: only says whether the eBPF source loads here ({available, code, reason}).
import { createInterface } from 'node:readline';
import { TcpdirService } from '../../src/service/tcpdir-service';
import type { KernelFactsRecord } from '../../src/service/view';
import type { HostFacts, Socket, SourceName, Verdict } from '../../src/model';

export interface CollectedRow {
  state: string;
  local: string;
  lport: number;
  remote: string;
  rport: number;
  /** null for LISTEN sockets (the classifier judges only connections). */
  verdict: Verdict | null;
  /** What the kernel source says of it (Connection.kernel); null without a record or for listeners. */
  kernel: KernelFactsRecord | null;
  socket: Socket;
}

export interface KernelStatus {
  available: boolean;
  code: string | null;
  reason: string | null;
  tracepoint: boolean;
}

export interface CollectOutput {
  source: SourceName;
  fallbackReason: string | null;
  durationMs: number;
  host: HostFacts;
  /** host.kernelEvidence of the served view. */
  kernel: KernelStatus;
  rows: CollectedRow[];
  /** Socket inode -> owners, as entries (a Map does not survive JSON). */
  processes: Array<[number, Array<{ pid: number; command: string }>]> | null;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function snapshotOnce(service: TcpdirService): Promise<void> {
  const view = await service.current();
  const snapshot = view.snapshot;
  const processes = process.argv.includes('--no-processes') ? null : await service.processesOf(view);
  const out: CollectOutput = {
    source: snapshot.source,
    fallbackReason: snapshot.fallbackReason,
    durationMs: snapshot.durationMs,
    host: snapshot.host,
    kernel: view.host().kernelEvidence,
    rows: snapshot.sockets.map((s) => {
      const conn = s.state === 'LISTEN' ? null : view.connection(s.id);
      return {
        state: s.state,
        local: s.localAddress,
        lport: s.localPort,
        remote: s.remoteAddress,
        rport: s.remotePort,
        verdict: view.verdicts.get(s.id) ?? null,
        kernel: conn ? view.kernelFacts(conn) : null,
        socket: s,
      };
    }),
    processes: processes
      ? [...processes].map(([inode, refs]) => [inode, refs.map((r) => ({ pid: r.pid, command: r.command }))])
      : null,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function main(): Promise<void> {
  const source = argValue('--source') ?? 'netlink';
  if (source !== 'netlink' && source !== 'procfs' && source !== 'ebpf' && source !== 'auto') {
    throw new Error(`--source must be ebpf, netlink, procfs or auto, not ${source}`);
  }
  if (process.argv.includes('--kernel') && process.argv.includes('--no-kernel')) {
    throw new Error('--kernel and --no-kernel are exclusive');
  }
  const service = new TcpdirService({
    source,
    maxAgeMs: 0,
    history: process.argv.includes('--history'),
    kernelEvidence: process.argv.includes('--kernel') || process.argv.includes('--probe-kernel'),
    // Off unless asked: the other runs judge sockets without it, whatever the namespace tracks.
    conntrack: process.argv.includes('--conntrack'),
  });
  try {
    if (process.argv.includes('--probe-kernel')) {
      const k = service.kernel;
      const status = k.available ? { available: true, code: null, reason: null } : { available: false, code: k.code, reason: k.reason };
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return;
    }
    if (!process.argv.includes('--serve')) return await snapshotOnce(service);
    // One request at a time: snapshots are taken in the order they were asked for.
    const rl = createInterface({ input: process.stdin });
    for await (const line of rl) {
      if (line.trim() === 'quit') break;
      await snapshotOnce(service);
    }
  } finally {
    service.close();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`collect: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
