// Runs scenarios in network namespaces, snapshots the agent namespace with tcpdir (through
// collect.js, inside the namespace) and pairs every expectation with the socket tcpdir saw.
// Used by scenarios.test.ts and bench/accuracy.ts.
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { canonicalAddress, unmapIPv4, type SourceName, type Verdict } from '../../src/model';
import type { CollectedRow, CollectOutput, KernelStatus } from './collect';
import { Actor, createNetnsPair, REPO_ROOT, type ActorSocket, type Endpoint, type NetnsPair } from './netns';
import { SCENARIOS, type ExpectOptions, type Expectation, type KnownDirection, type Scenario, type ScenarioContext } from './scenarios';

export const COLLECT_JS = path.join(REPO_ROOT, 'dist', 'test', 'scenarios', 'collect.js');

/**
 * isolated: a fresh namespace pair and snapshot per scenario, so nothing else can help or
 * confuse the classifier. combined: every scenario in one pair and one snapshot, as on a busy
 * host where evidence from one connection can bear on another.
 */
export type RunMode = 'isolated' | 'combined';

/** One way of snapshotting: a source, with or without the eBPF kernel evidence. */
export interface CollectRun {
  source: SourceName;
  kernel: boolean;
  /**
   * Read the agent's conntrack table too. The agent then carries an nftables `ct state` rule
   * (loaded before any scenario socket exists, so entries are made from SYNs); needs `nft`.
   */
  conntrack?: boolean;
}

/**
 * The runs the suite compares: what the server serves by default (the iterator pass as socket
 * list and evidence), sock_diag with the kernel evidence joined (foreign namespaces, --source
 * netlink), and heuristics alone from each source.
 */
export const DEFAULT_RUNS: CollectRun[] = [
  { source: 'ebpf', kernel: true },
  { source: 'netlink', kernel: true },
  { source: 'netlink', kernel: false },
  { source: 'procfs', kernel: false },
  { source: 'netlink', kernel: false, conntrack: true },
];

/** Why the conntrack run cannot run here (no nft), or null. */
export function conntrackUnsupported(): string | null {
  return spawnSync('nft', ['--version']).status === 0 ? null : 'nft (nftables) is not installed';
}

/** "ebpf+kernel", "netlink+kernel", "netlink", "procfs", "netlink+conntrack". */
export function runName(r: CollectRun): string {
  return r.kernel ? `${r.source}+kernel` : r.conntrack ? `${r.source}+conntrack` : r.source;
}

function collectArgs(r: CollectRun): string[] {
  return [COLLECT_JS, '--source', r.source, r.kernel ? '--kernel' : '--no-kernel', ...(r.conntrack ? ['--conntrack'] : [])];
}

/**
 * Whether the eBPF source loads on this host (addon built, privilege, BTF), asked of collect.js
 * itself so the answer is the one the kernel runs will get.
 */
export function probeKernel(): KernelStatus {
  if (!existsSync(COLLECT_JS)) throw new Error(`${COLLECT_JS} is missing: run \`npx tsc -p tsconfig.json\` first`);
  const r = spawnSync(process.execPath, [COLLECT_JS, '--probe-kernel'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`collect.js --probe-kernel failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  const s = JSON.parse(r.stdout) as { available: boolean; code: string | null; reason: string | null };
  return { ...s, tracepoint: s.available };
}

export interface Observation {
  scenario: Scenario;
  expectation: Expectation;
  mode: RunMode;
  source: SourceName;
  /** Whether the snapshot was taken with kernel evidence turned on. */
  kernel: boolean;
  /** runName() of the run. */
  run: string;
  /** The matching socket in the snapshot, or null when tcpdir did not report it. */
  row: CollectedRow | null;
  /** The whole snapshot the row came from (shared by the scenarios of one group). */
  snapshot: CollectOutput;
}

export interface RunOptions {
  /** Default DEFAULT_RUNS. */
  runs?: CollectRun[];
  mode?: RunMode;
  /** Scenario names to run; all when absent. */
  only?: string[];
  /** Called with progress lines. */
  log?: (line: string) => void;
}

export type Outcome = 'correct' | 'wrong' | 'unknown' | 'missing';

export function outcomeOf(expected: KnownDirection, verdict: Pick<Verdict, 'direction'> | null | undefined): Outcome {
  if (!verdict) return 'missing';
  if (verdict.direction === 'UNKNOWN') return 'unknown';
  return verdict.direction === expected ? 'correct' : 'wrong';
}

/** Key of an agent-side 4-tuple with `::ffff:a.b.c.d` unmapped, so either family matches. */
export function tupleKey(local: string, lport: number, remote: string, rport: number): string {
  const norm = (a: string) => unmapIPv4(canonicalAddress(a) ?? a);
  return `${norm(local)}|${lport}|${norm(remote)}|${rport}`;
}

function makeContext(scenario: Scenario, pair: NetnsPair, agent: Actor, remote: Actor, into: Expectation[]): ScenarioContext {
  const add = (local: Endpoint | null, rem: Endpoint | null, direction: KnownDirection, label: string,
    states: Expectation['states'] = [], opts: ExpectOptions = {}) => {
    if (!local || !rem) throw new Error(`${scenario.name}: ${label} has no known endpoints`);
    into.push({ scenario: scenario.name, label, direction, local, remote: rem, states,
      kernelUnknown: opts.kernelUnknown ?? null, heuristicBlindSpot: opts.heuristicBlindSpot ?? null });
  };
  return {
    pair,
    agent,
    remote,
    expectAgent: (s: ActorSocket, d, label, states, opts) => add(s.local, s.remote, d, label, states, opts),
    expectPeerOf: (s: ActorSocket, d, label, states, opts) => add(s.remote, s.local, d, label, states, opts),
  };
}

export async function collectIn(pair: NetnsPair, run: CollectRun): Promise<CollectOutput> {
  if (!existsSync(COLLECT_JS)) throw new Error(`${COLLECT_JS} is missing: run \`npx tsc -p tsconfig.json\` first`);
  const text = await pair.exec(pair.agent, [process.execPath, ...collectArgs(run)], { timeoutMs: 60_000 });
  return parseOutput(text, run);
}

function parseOutput(text: string, run: CollectRun): CollectOutput {
  let out: CollectOutput;
  try {
    out = JSON.parse(text) as CollectOutput;
  } catch {
    throw new Error(`collect.js (${runName(run)}) printed no JSON: ${text.slice(0, 200)}`);
  }
  if (out.source !== run.source) {
    throw new Error(`asked for source ${run.source} but the snapshot came from ${out.source} (${out.fallbackReason ?? 'no reason'})`);
  }
  // A kernel run that silently fell back to heuristics would pass for a heuristic one.
  if (run.kernel && !out.kernel.available) {
    throw new Error(`collect.js (${runName(run)}): kernel evidence unavailable in the agent namespace: ${out.kernel.code}: ${out.kernel.reason}`);
  }
  if (!run.kernel && out.kernel.available) throw new Error(`collect.js (${runName(run)}): kernel evidence is on although it was turned off`);
  return out;
}

/** A collect.js --serve --history process in a namespace: snapshots with memory. */
export class MemoryCollector {
  private readonly child;
  private readonly lines: string[] = [];
  private wake: (() => void) | null = null;
  private stderr = '';
  private exited = false;

  constructor(ns: NetnsPair | string, readonly run: CollectRun) {
    const name = typeof ns === 'string' ? ns : ns.agent;
    this.child = spawn('ip', ['netns', 'exec', name, process.execPath, ...collectArgs(run), '--serve', '--history'],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      this.lines.push(l);
      this.wake?.();
    });
    this.child.on('exit', () => {
      this.exited = true;
      this.wake?.();
    });
  }

  async snapshot(): Promise<CollectOutput> {
    this.child.stdin.write('snap\n');
    const deadline = Date.now() + 60_000;
    while (this.lines.length === 0) {
      if (this.exited) throw new Error(`collect.js --serve (${runName(this.run)}) exited: ${this.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`collect.js --serve (${runName(this.run)}): no snapshot within 60 s`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 1000);
      });
    }
    return parseOutput(this.lines.shift()!, this.run);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin.end('quit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }
}

/**
 * Sets up `scenarios` in one fresh namespace pair and snapshots it once per source. Scenarios
 * with later() get two snapshots from a collector that keeps history; the second is judged.
 */
async function runGroup(scenarios: Scenario[], mode: RunMode, runs: CollectRun[], log: (l: string) => void): Promise<Observation[]> {
  if (!existsSync(COLLECT_JS)) throw new Error(`${COLLECT_JS} is missing: run \`npx tsc -p tsconfig.json\` first`);
  const pair = createNetnsPair();
  // Tracking starts with the first rule that needs it: load one before any scenario socket exists.
  if (runs.some((r) => r.conntrack)) {
    execFileSync('ip', ['netns', 'exec', pair.agent, 'nft', '-f', '-'], {
      input: 'table inet tcpdir_ct {\n chain in {\n  type filter hook input priority 0\n  ct state established,related accept\n }\n}\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
  const agent = new Actor(pair.agent, 'agent');
  const remote = new Actor(pair.remote, 'remote');
  const withMemory = scenarios.some((s) => s.later);
  const collectors = withMemory ? runs.map((r) => new MemoryCollector(pair, r)) : [];
  try {
    await Promise.all([agent.ready, remote.ready]);
    const expectations: Expectation[] = [];
    const states: unknown[] = [];
    for (const sc of scenarios) {
      try {
        states.push(await sc.setup(makeContext(sc, pair, agent, remote, expectations)));
      } catch (e) {
        throw new Error(`scenario ${sc.name} setup failed: ${(e as Error).message}`);
      }
    }
    if (withMemory) {
      for (const c of collectors) await c.snapshot();
      for (const [i, sc] of scenarios.entries()) {
        try {
          await sc.later?.(makeContext(sc, pair, agent, remote, expectations), states[i]);
        } catch (e) {
          throw new Error(`scenario ${sc.name} later() failed: ${(e as Error).message}`);
        }
      }
    }
    const out: Observation[] = [];
    for (const [i, run] of runs.entries()) {
      const snap = withMemory ? await collectors[i].snapshot() : await collectIn(pair, run);
      log(`${mode} [${scenarios.map((s) => s.name).join(', ')}] ${runName(run)}: ${snap.rows.length} sockets in ${snap.durationMs.toFixed(1)} ms`);
      const byTuple = new Map<string, CollectedRow>();
      for (const r of snap.rows) {
        if (r.state !== 'LISTEN') byTuple.set(tupleKey(r.local, r.lport, r.remote, r.rport), r);
      }
      for (const ex of expectations) {
        const row = byTuple.get(tupleKey(ex.local[0], ex.local[1], ex.remote[0], ex.remote[1])) ?? null;
        out.push({ scenario: scenarios.find((s) => s.name === ex.scenario)!, expectation: ex, mode, source: run.source,
          kernel: run.kernel, run: runName(run), row, snapshot: snap });
      }
    }
    return out;
  } finally {
    await Promise.all([agent.stop(), remote.stop(), ...collectors.map((c) => c.stop())]);
    pair.destroy();
  }
}

/** Runs the scenario suite and returns one observation per (expectation, run). */
export async function runScenarios(opts: RunOptions = {}): Promise<Observation[]> {
  const runs = opts.runs ?? DEFAULT_RUNS;
  const mode = opts.mode ?? 'isolated';
  const log = opts.log ?? (() => undefined);
  const chosen = opts.only ? SCENARIOS.filter((s) => opts.only!.includes(s.name)) : SCENARIOS;
  if (opts.only) {
    const unknown = opts.only.filter((n) => !SCENARIOS.some((s) => s.name === n));
    if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')}`);
  }
  if (mode === 'combined') {
    // Scenarios with memory form their own group: the others are judged on a single snapshot.
    const once = chosen.filter((s) => !s.later);
    const twice = chosen.filter((s) => s.later);
    return [
      ...(once.length ? await runGroup(once, mode, runs, log) : []),
      ...(twice.length ? await runGroup(twice, mode, runs, log) : []),
    ];
  }
  const all: Observation[] = [];
  for (const sc of chosen) all.push(...(await runGroup([sc], mode, runs, log)));
  return all;
}
