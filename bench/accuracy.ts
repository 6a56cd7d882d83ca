// bench:accuracy — runs the hand-written scenario suite and the scenario generator (test/scenarios,
// needs root) and prints, as Markdown, per mode (tcpdir with kernel (eBPF) evidence; heuristics
// over netlink; heuristics over procfs; the classic four-rule baseline for comparison): accuracy,
// wrong at >= 0.9, the reliability table, expected calibration error and Brier score, then the
// hand-written suite per scenario and the generated set per class.
//   node dist/bench/accuracy.js [--mode isolated|combined|both] [--no-kernel] [--no-procfs] [--no-conntrack]
//                               [--sockets N (generated, default 2000)] [--no-generated]
// TCPDIR_GEN_SEED sets the generator's seed (default 1); the seed is printed. The conntrack mode is
// the heuristics plus the agent namespaces' conntrack tables (an nft ct-state rule loaded before
// any labelled socket exists; needs nft).
import type { Verdict } from '../src/model';
import { unsupportedReason } from '../test/scenarios/netns';
import { conntrackUnsupported, DEFAULT_RUNS, outcomeOf, probeKernel, runScenarios, type CollectRun, type Observation, type Outcome, type RunMode } from '../test/scenarios/runner';
import type { CollectOutput } from '../test/scenarios/collect';
import { isAmbiguous } from '../test/scenarios/scenarios';
import { runGenerated, seedFromEnv } from '../test/scenarios/generator';
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

// The modes, in the order printed. conntrack: collect.js --conntrack (ctnetlink evidence on,
// kernel evidence off).
type Column = 'kernel' | 'heuristic' | 'procfs' | 'conntrack' | 'baseline';
const COLUMN_NAMES: Record<Column, string> = {
  kernel: 'tcpdir + kernel (ebpf)',
  heuristic: 'tcpdir heuristics (netlink)',
  procfs: 'tcpdir heuristics (procfs)',
  conntrack: 'tcpdir heuristics + conntrack (netlink)',
  baseline: 'classic rules (netlink snapshot)',
};
const RUN_OF_COLUMN: Record<Exclude<Column, 'baseline'>, string> = { kernel: 'ebpf+kernel', heuristic: 'netlink', procfs: 'procfs', conntrack: 'netlink+conntrack' };

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

const BUCKETS: Array<[number, number]> = [[0.5, 0.6], [0.6, 0.75], [0.75, 0.8], [0.8, 0.9], [0.9, 0.95], [0.95, 0.99], [0.99, 1.0001]];

/**
 * The probability a verdict gives the side it leans to, and whether that side is the right one
 * (UNKNOWN verdicts included: their inboundProbability still leans, below 0.75; a verdict at
 * exactly 0.5 leans nowhere and counts as half right).
 */
function lean(expected: 'INBOUND' | 'OUTBOUND', v: Verdict): { p: number; right: number } {
  const pIn = v.certain ? (v.direction === 'INBOUND' ? 1 : 0) : v.inboundProbability;
  const p = Math.max(pIn, 1 - pIn);
  const right = pIn === 0.5 ? 0.5 : (pIn > 0.5) === (expected === 'INBOUND') ? 1 : 0;
  return { p, right };
}

interface Scores { n: number; accuracy: number; wrong: number; wrongConfident: number; unknown: number; ece: number; brier: number }

/** Accuracy (right verdicts / sockets), wrong at >= 0.9, expected calibration error, Brier score. */
function scores(rows: Row[], c: Column): Scores {
  const t = tally(rows, c);
  let brier = 0, m = 0;
  const bins = BUCKETS.map(() => ({ n: 0, p: 0, right: 0 }));
  for (const r of rows) {
    const v = r[c];
    if (!v) continue;
    m++;
    const inbound = r.obs.expectation.direction === 'INBOUND' ? 1 : 0;
    const pIn = v.certain ? (v.direction === 'INBOUND' ? 1 : 0) : v.inboundProbability;
    brier += (pIn - inbound) ** 2;
    const { p, right } = lean(r.obs.expectation.direction, v);
    const b = BUCKETS.findIndex(([lo, hi]) => p >= lo && p < hi);
    bins[b].n++, (bins[b].p += p), (bins[b].right += right);
  }
  const ece = m ? bins.reduce((s, b) => s + (b.n ? (b.n / m) * Math.abs(b.right / b.n - b.p / b.n) : 0), 0) : NaN;
  return { n: t.n, accuracy: t.n ? t.correct / t.n : NaN, wrong: t.wrong, wrongConfident: t.wrongConfident, unknown: t.unknown, ece, brier: m ? brier / m : NaN };
}

function modeTable(sets: Array<{ name: string; rows: Row[] }>, columns: Column[]): string {
  const lines = ['| set | mode | sockets | accuracy | wrong | wrong at ≥ 0.9 | unknown | ECE | Brier |', '|---|---|---|---|---|---|---|---|---|'];
  for (const set of sets) {
    for (const c of columns) {
      const s = scores(set.rows, c);
      lines.push(`| ${set.name} | ${COLUMN_NAMES[c]} | ${s.n} | ${(100 * s.accuracy).toFixed(1)}% | ${s.wrong} | ${s.wrongConfident} | ${s.unknown} | ` +
        `${c === 'baseline' ? '–' : s.ece.toFixed(3)} | ${s.brier.toFixed(3)} |`);
    }
  }
  return lines.join('\n');
}

/** Reliability: verdicts binned by the probability of the side they lean to (UNKNOWN below 0.75). */
function calibrationTable(rows: Row[], c: Column): string {
  const lines = ['| probability of the leaning side | verdicts | right | observed | mean predicted |', '|---|---|---|---|---|'];
  for (const [lo, hi] of BUCKETS) {
    let n = 0, right = 0, sum = 0;
    for (const r of rows) {
      const v = r[c];
      if (!v) continue;
      const l = lean(r.obs.expectation.direction, v);
      if (l.p < lo || l.p >= hi) continue;
      n++, (right += l.right), (sum += l.p);
    }
    const label = hi > 1 ? `[${lo.toFixed(2)}, 1.00]` : `[${lo.toFixed(2)}, ${hi.toFixed(2)})${hi <= 0.75 ? ' UNKNOWN' : ''}`;
    lines.push(`| ${label} | ${n} | ${right} | ${n ? `${((100 * right) / n).toFixed(1)}%` : '–'} | ${n ? (sum / n).toFixed(3) : '–'} |`);
  }
  return lines.join('\n');
}

/** The generated set per class: how each mode did, worst first. */
function classTable(rows: Row[], columns: Column[]): string {
  const cols = columns.filter((c) => c !== 'baseline');
  const head = ['class', 'expected', 'sockets', ...cols.map((c) => `${COLUMN_NAMES[c]}: right / unknown / wrong (≥ 0.9) · mean conf.`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const by = new Map<string, Row[]>();
  for (const r of rows) {
    const k = `${r.obs.expectation.scenario.replace(/^gen:/, '')} (${r.obs.expectation.label})`;
    by.set(k, [...(by.get(k) ?? []), r]);
  }
  for (const [k, rs] of [...by].sort((a, b) => a[0].localeCompare(b[0]))) {
    const cells = cols.map((c) => {
      const t = tally(rs, c);
      const answered = rs.filter((r) => r[c] && r[c]!.direction !== 'UNKNOWN');
      const mean = answered.length ? answered.reduce((s, r) => s + r[c]!.confidence, 0) / answered.length : NaN;
      return `${t.correct} / ${t.unknown} / ${t.wrong}${t.wrongConfident ? ` (**${t.wrongConfident}**)` : ''}${t.missing ? ` · ${t.missing} missing` : ''} · ${Number.isNaN(mean) ? '–' : mean.toFixed(2)}`;
    });
    lines.push(`| ${k} | ${rs[0].obs.expectation.direction} | ${rs.length} | ${cells.join(' | ')} |`);
  }
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
    const heur = by('netlink'), kern = by('ebpf+kernel'), proc = by('procfs'), ct = by(RUN_OF_COLUMN.conntrack);
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
  // The generated set: one row per labelled socket, its verdict in each run.
  const genRows: Row[] = [];
  let genNote = '';
  if (!process.argv.includes('--no-generated')) {
    const seed = seedFromEnv(1);
    const sockets = Number(arg('--sockets', '2000'));
    process.stderr.write(`generated set: seed ${seed} (TCPDIR_GEN_SEED=${seed} replays it), ${sockets} sockets\n`);
    const g = await runGenerated({ seed, sockets, runs, log: (l) => process.stderr.write(`${l}\n`) });
    const byEx = new Map<Observation['expectation'], Partial<Record<string, Observation>>>();
    for (const o of g.observations) byEx.set(o.expectation, { ...byEx.get(o.expectation), [o.run]: o });
    for (const runsOf of byEx.values()) {
      const o = runsOf.netlink!;
      genRows.push({
        obs: o,
        kernel: runsOf[RUN_OF_COLUMN.kernel]?.row?.verdict ?? null,
        heuristic: o.row?.verdict ?? null,
        procfs: runsOf[RUN_OF_COLUMN.procfs]?.row?.verdict ?? null,
        conntrack: runsOf[RUN_OF_COLUMN.conntrack]?.row?.verdict ?? null,
        baseline: baselineFor(o),
      });
    }
    const agents = g.ranges.filter((r) => r.agent).map((r) => `${r.low}-${r.high}`).join(', ');
    const remotes = g.ranges.filter((r) => !r.agent).map((r) => `${r.low}-${r.high}`).join(', ');
    genNote = `Generated set: seed ${seed} (\`TCPDIR_GEN_SEED=${seed}\`), ${genRows.length} labelled sockets in ${g.ranges.filter((r) => r.agent).length} ` +
      `agent namespaces (ephemeral ranges ${agents}) talking to each other and to ${g.ranges.filter((r) => !r.agent).length} remote ones (${remotes}), ` +
      `built in ${g.seconds.toFixed(1)} s.`;
  }
  const all = groups.flatMap((g) => g.rows);
  const out: string[] = [];
  out.push(`## Direction accuracy: ${new Set(all.map((r) => r.obs.scenario.name)).size} hand-written scenarios and ${genRows.length} generated sockets`, '');
  out.push('Real connections of known direction between network namespaces (`test/scenarios`), snapshotted ' +
    'through TcpdirService as the server serves them. The hand-written suite\'s agent namespace uses ephemeral ports 20000-29999; ' +
    'the generator (`test/scenarios/generator.ts`) draws a range per namespace. ' +
    '"tcpdir + kernel": the eBPF socket iterator (the socket list and the evidence) and state-change tracepoint; "heuristics": the same service ' +
    'with kernel evidence turned off; "+ conntrack": the same heuristics with the agent namespaces\' conntrack tables read (an nft ct-state rule ' +
    'loaded before any of their sockets). "classic rules": listener on the same address or wildcard → inbound; local ' +
    'endpoint shared → inbound; local port in the ephemeral range → outbound; port < 1024 → inbound; else ' +
    'outbound, each counted at confidence 1. Accuracy counts UNKNOWN as not right. ECE (expected calibration error) and the ' +
    'reliability tables bin every verdict, UNKNOWN ones included, by the probability it gives the side it leans to; ' +
    'Brier is the mean squared error of inboundProbability (1 for certain verdicts).', '');
  if (genNote) out.push(genNote, '');
  for (const n of notes) out.push(`> ${n}`, '');
  const sets = [{ name: 'hand-written', rows: all }, ...(genRows.length ? [{ name: 'generated', rows: genRows }, { name: 'both', rows: [...all, ...genRows] }] : [])];
  out.push('### Per mode', '', modeTable(sets, columns), '');
  for (const c of columns.filter((x) => x !== 'baseline')) {
    for (const set of sets.filter((x) => x.name !== 'both')) {
      out.push(`### Reliability of ${COLUMN_NAMES[c]}, ${set.name} (${set.rows.length} verdicts)`, '', calibrationTable(set.rows, c), '');
    }
  }
  if (genRows.length) out.push('### Generated set per class (timing: pre = opened before tcpdir started, live = while it ran)', '', classTable(genRows, columns), '');
  out.push('### Hand-written suite: totals', '', totalsTable(groups, columns), '');
  out.push(`### Hand-written suite per scenario (${groups[0].mode})`, '', '`*`: sock_diag and /proc alone cannot settle the direction; ' +
    '`ᵏ`: a case the kernel rules leave UNKNOWN (docs/kernel-evidence.md); `ᵇ`: a declared blind spot of the heuristics.', '',
  perScenarioTable(groups[0].rows, columns, kernelObs), '');
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
  out.push(`_${all.length} hand-written and ${genRows.length} generated sockets × ${runs.length} runs in ${((Date.now() - started) / 1000).toFixed(1)} s._`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:accuracy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
