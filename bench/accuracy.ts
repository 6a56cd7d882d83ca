// bench:accuracy — runs the scenario suite (test/scenarios, needs root) and prints, as Markdown,
// three classifiers side by side per scenario and in total: tcpdir with kernel (eBPF) evidence,
// tcpdir on heuristics alone (both as TcpdirService serves them), and the classic four-rule
// baseline (bench/baseline.ts); plus the calibration of each tcpdir column.
//   node dist/bench/accuracy.js [--mode isolated|combined|both] [--no-kernel] [--no-procfs] [--no-conntrack]
// The conntrack column is the heuristics plus the agent namespace's conntrack table (an nft
// ct-state rule loaded before the scenarios' sockets; needs nft).
import type { Verdict } from '../src/model';
import { unsupportedReason } from '../test/scenarios/netns';
import { conntrackUnsupported, DEFAULT_RUNS, outcomeOf, probeKernel, runScenarios, type CollectRun, type Observation, type Outcome, type RunMode } from '../test/scenarios/runner';
import type { CollectOutput } from '../test/scenarios/collect';
import { isAmbiguous } from '../test/scenarios/scenarios';
import { classicClassify } from './baseline';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function choose<T extends string>(value: string, all: T[], what: string): T[] {
  if (value === 'both') return all;
  if (!all.includes(value as T)) throw new Error(`--${what} must be ${all.join(', ')} or both, not ${value}`);
  return [value as T];
}

/** One socket of one scenario in one mode, as each classifier judged it. */
interface Row {
  obs: Observation;
  kernel: Verdict | null;
  heuristic: Verdict | null;
  procfs: Verdict | null;
  conntrack: Verdict | null;
  baseline: Verdict | null;
}

type Column = 'kernel' | 'heuristic' | 'procfs' | 'conntrack' | 'baseline';
const COLUMN_NAMES: Record<Column, string> = {
  kernel: 'tcpdir + kernel (ebpf)',
  heuristic: 'tcpdir heuristics (netlink)',
  procfs: 'tcpdir heuristics (procfs)',
  conntrack: 'tcpdir heuristics + conntrack (netlink)',
  baseline: 'classic rules (netlink snapshot)',
};

const baselineCache = new WeakMap<CollectOutput, Map<string, Verdict>>();
function baselineFor(o: Observation): Verdict | null {
  let m = baselineCache.get(o.snapshot);
  if (!m) {
    m = classicClassify({ sockets: o.snapshot.rows.map((r) => r.socket), host: o.snapshot.host });
    baselineCache.set(o.snapshot, m);
  }
  return o.row ? (m.get(o.row.socket.id) ?? null) : null;
}

const MARK: Record<Outcome, string> = { correct: '✔', wrong: '✘', unknown: '?', missing: '—' };

function cell(expected: Observation['expectation']['direction'], v: Verdict | null, withConfidence: boolean): string {
  const oc = outcomeOf(expected, v);
  if (!v) return MARK.missing;
  if (v.direction === 'UNKNOWN') return `${MARK.unknown} UNKNOWN`;
  const conf = withConfidence ? ` ${v.confidence.toFixed(2)}${v.certain ? ' (certain)' : ''}` : '';
  return `${MARK[oc]} ${v.direction}${conf}`;
}

/** The rule that decided a certain verdict with kernel evidence, e.g. kernel-inherited-backlog. */
function kernelRule(o: Observation | undefined): string {
  return o?.row?.kernel?.rule ?? '–';
}

function perScenarioTable(rows: Row[], columns: Column[], kernelObs: Map<Row, Observation>): string {
  const withKernel = columns.includes('kernel');
  const head = ['scenario', 'socket', 'state', 'expected', ...columns.map((c) => COLUMN_NAMES[c]), ...(withKernel ? ['kernel rule'] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  // Identical rows (e.g. the four children of one listener) are folded into one with a count.
  const folded = new Map<string, { line: string[]; n: number }>();
  for (const r of rows) {
    const e = r.obs.expectation;
    const notes = [isAmbiguous(r.obs.scenario, 'netlink') ? ' *' : '', e.kernelUnknown ? ' ᵏ' : '', e.heuristicBlindSpot ? ' ᵇ' : ''].join('');
    const line = [
      `${e.scenario}${notes}`,
      e.label,
      r.obs.row?.state ?? '(not reported)',
      e.direction,
      ...columns.map((c) => cell(e.direction, r[c], c !== 'baseline')),
      ...(withKernel ? [kernelRule(kernelObs.get(r))] : []),
    ];
    const key = line.join('|');
    const f = folded.get(key);
    if (f) f.n++;
    else folded.set(key, { line, n: 1 });
  }
  for (const { line, n } of folded.values()) {
    if (n > 1) line[1] = `${line[1]} ×${n}`;
    lines.push(`| ${line.join(' | ')} |`);
  }
  return lines.join('\n');
}

interface Tally { n: number; correct: number; wrong: number; wrongConfident: number; certain: number; unknown: number; missing: number }

function tally(rows: Row[], c: Column): Tally {
  const t: Tally = { n: 0, correct: 0, wrong: 0, wrongConfident: 0, certain: 0, unknown: 0, missing: 0 };
  for (const r of rows) {
    const v = r[c];
    const oc = outcomeOf(r.obs.expectation.direction, v);
    t.n++;
    t[oc]++;
    if (oc === 'wrong' && v && v.confidence >= 0.9) t.wrongConfident++;
    if (v?.certain && c !== 'baseline') t.certain++;
  }
  return t;
}

function pct(a: number, n: number): string {
  return n ? `${((100 * a) / n).toFixed(0)}%` : '–';
}

function totalsTable(groups: Array<{ mode: RunMode; rows: Row[] }>, columns: Column[]): string {
  const lines = [
    '| mode | classifier | sockets | correct | wrong | wrong at ≥ 0.9 | certain | unknown | not reported | right when answering |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const g of groups) {
    for (const c of columns) {
      const t = tally(g.rows, c);
      lines.push(`| ${g.mode} | ${COLUMN_NAMES[c]} | ${t.n} | ${t.correct} (${pct(t.correct, t.n)}) | ${t.wrong} (${pct(t.wrong, t.n)}) | ` +
        `${t.wrongConfident} | ${c === 'baseline' ? '–' : t.certain} | ${t.unknown} | ${t.missing} | ${pct(t.correct, t.correct + t.wrong)} |`);
    }
  }
  return lines.join('\n');
}

const BUCKETS: Array<[number, number]> = [[0.5, 0.6], [0.6, 0.7], [0.7, 0.8], [0.8, 0.9], [0.9, 0.99], [0.99, 1.0001]];

function calibrationTable(rows: Row[], c: Column): string {
  const lines = ['| confidence | verdicts | right | accuracy | mean confidence |', '|---|---|---|---|---|'];
  const unknown = rows.filter((r) => r[c]?.direction === 'UNKNOWN').length;
  for (const [lo, hi] of BUCKETS) {
    const inB = rows.filter((r) => r[c] && r[c]!.direction !== 'UNKNOWN' && r[c]!.confidence >= lo && r[c]!.confidence < hi);
    const right = inB.filter((r) => outcomeOf(r.obs.expectation.direction, r[c]) === 'correct').length;
    const mean = inB.length ? inB.reduce((s, r) => s + r[c]!.confidence, 0) / inB.length : NaN;
    const label = hi > 1 ? `[${lo.toFixed(2)}, 1.00]` : `[${lo.toFixed(2)}, ${hi.toFixed(2)})`;
    lines.push(`| ${label} | ${inB.length} | ${right} | ${pct(right, inB.length)} | ${Number.isNaN(mean) ? '–' : mean.toFixed(3)} |`);
  }
  lines.push(`| UNKNOWN | ${unknown} | – | – | – |`);
  return lines.join('\n');
}

/** Observations keyed by scenario, label and ordinal: runs pick different ephemeral ports. */
function ordinalIndex(obs: Observation[]): Map<string, Observation> {
  const seen = new Map<string, number>();
  const out = new Map<string, Observation>();
  for (const o of obs) {
    const base = `${o.expectation.scenario}|${o.expectation.label}`;
    const i = seen.get(base) ?? 0;
    seen.set(base, i + 1);
    out.set(`${base}|${i}`, o);
  }
  return out;
}

async function main(): Promise<void> {
  const reason = unsupportedReason();
  if (reason) throw new Error(`bench:accuracy needs the scenario suite, which cannot run here: ${reason}`);
  const modes = choose<RunMode>(arg('--mode', 'both'), ['isolated', 'combined'], 'mode');
  // The kernel column is what the server serves by default: the iterator pass as the socket list
  // and as the evidence (the suite also checks sock_diag with the evidence joined; same verdicts).
  let runs: CollectRun[] = DEFAULT_RUNS.filter((r) => !(r.kernel && r.source === 'netlink'));
  const notes: string[] = [];
  if (process.argv.includes('--no-kernel')) runs = runs.filter((r) => !r.kernel);
  else {
    const k = probeKernel();
    if (!k.available) {
      notes.push(`Kernel evidence column left out: the eBPF source cannot load here (${k.code}: ${k.reason}).`);
      runs = runs.filter((r) => !r.kernel);
    }
  }
  if (process.argv.includes('--no-procfs')) runs = runs.filter((r) => r.source !== 'procfs');
  const noCt = process.argv.includes('--no-conntrack') ? 'asked' : conntrackUnsupported();
  if (noCt) {
    if (noCt !== 'asked') notes.push(`Conntrack column left out: ${noCt}.`);
    runs = runs.filter((r) => !r.conntrack);
  }
  const columns: Column[] = [
    ...(runs.some((r) => r.kernel) ? ['kernel' as const] : []),
    'heuristic',
    ...(runs.some((r) => r.source === 'procfs') ? ['procfs' as const] : []),
    ...(runs.some((r) => r.conntrack) ? ['conntrack' as const] : []),
    'baseline',
  ];
  const started = Date.now();
  const groups: Array<{ mode: RunMode; rows: Row[] }> = [];
  const kernelObs = new Map<Row, Observation>();
  for (const mode of modes) {
    const obs = await runScenarios({ mode, runs, log: (l) => process.stderr.write(`${l}\n`) });
    const by = (run: string) => ordinalIndex(obs.filter((o) => o.run === run));
    const heur = by('netlink'), kern = by('ebpf+kernel'), proc = by('procfs'), ct = by('netlink+conntrack');
    const rows: Row[] = [];
    for (const [key, o] of heur) {
      const r: Row = {
        obs: o,
        heuristic: o.row?.verdict ?? null,
        kernel: kern.get(key)?.row?.verdict ?? null,
        procfs: proc.get(key)?.row?.verdict ?? null,
        conntrack: ct.get(key)?.row?.verdict ?? null,
        baseline: baselineFor(o),
      };
      const k = kern.get(key);
      if (k) kernelObs.set(r, k);
      rows.push(r);
    }
    groups.push({ mode, rows });
  }
  const all = groups.flatMap((g) => g.rows);
  const out: string[] = [];
  out.push(`## Direction accuracy on ${new Set(all.map((r) => r.obs.scenario.name)).size} scenarios`, '');
  out.push('Real connections of known direction between two network namespaces (`test/scenarios`), snapshotted ' +
    'through TcpdirService as the server serves them; the agent namespace uses ephemeral ports 20000-29999. ' +
    '"tcpdir + kernel": the eBPF socket iterator (the socket list and the evidence) and state-change tracepoint; "heuristics": the same service ' +
    'with kernel evidence turned off. "classic rules": listener on the same address or wildcard → inbound; local ' +
    'endpoint shared → inbound; local port in the ephemeral range → outbound; port < 1024 → inbound; else ' +
    'outbound, each counted at confidence 1. `*`: sock_diag and /proc alone cannot settle the direction; ' +
    '`ᵏ`: a case the kernel rules leave UNKNOWN (docs/kernel-evidence.md); `ᵇ`: a declared blind spot of the heuristics.', '');
  for (const n of notes) out.push(`> ${n}`, '');
  out.push('### Totals', '', totalsTable(groups, columns), '');
  out.push(`### Per scenario (${groups[0].mode})`, '', perScenarioTable(groups[0].rows, columns, kernelObs), '');
  // Where the other modes disagree with the first one, say so rather than print every table.
  const key = (r: Row) => `${r.obs.expectation.scenario}|${r.obs.expectation.label}`;
  for (const g of groups.slice(1)) {
    const firstByKey = new Map<string, Row[]>();
    for (const r of groups[0].rows) firstByKey.set(key(r), [...(firstByKey.get(key(r)) ?? []), r]);
    const seen = new Map<string, number>();
    const diffs = g.rows.filter((r) => {
      const i = seen.get(key(r)) ?? 0;
      seen.set(key(r), i + 1);
      const a = firstByKey.get(key(r))?.[i];
      return !a || columns.some((c) => c !== 'baseline' && (a[c]?.direction !== r[c]?.direction ||
        Math.abs((a[c]?.confidence ?? 0) - (r[c]?.confidence ?? 0)) > 0.01));
    });
    if (diffs.length) out.push(`### ${g.mode}: verdicts that differ from ${groups[0].mode}`, '', perScenarioTable(diffs, columns, kernelObs), '');
    else out.push(`${g.mode}: every tcpdir verdict matches ${groups[0].mode}.`, '');
  }
  for (const c of columns.filter((x) => x !== 'baseline')) {
    out.push(`### Calibration of ${COLUMN_NAMES[c]} (modes pooled, ${all.length} verdicts)`, '', calibrationTable(all, c), '');
  }
  out.push(`_${all.length} sockets × ${runs.length} runs in ${((Date.now() - started) / 1000).toFixed(1)} s._`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:accuracy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
