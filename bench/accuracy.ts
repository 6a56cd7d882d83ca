// bench:accuracy — runs the scenario suite (test/scenarios, needs root) and prints, as Markdown,
// tcpdir's verdicts beside the classic four-rule baseline (bench/baseline.ts) per scenario and in
// total, plus tcpdir's calibration (confidence bucket -> accuracy).
//   node dist/bench/accuracy.js [--mode isolated|combined|both] [--source netlink|procfs|both]
import type { SourceName, Verdict } from '../src/model';
import { unsupportedReason } from '../test/scenarios/netns';
import { outcomeOf, runScenarios, type Observation, type Outcome, type RunMode } from '../test/scenarios/runner';
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

interface Scored extends Observation {
  tcpdir: Verdict | null;
  baseline: Verdict | null;
}

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

function perScenarioTable(rows: Scored[]): string {
  const lines = [
    '| scenario | socket | state | expected | tcpdir | classic rules |',
    '|---|---|---|---|---|---|',
  ];
  // Identical rows (e.g. the four children of one listener) are folded into one with a count.
  const folded = new Map<string, { line: string[]; n: number }>();
  for (const r of rows) {
    const e = r.expectation;
    const line = [
      `${e.scenario}${isAmbiguous(r.scenario, r.source) ? ' *' : ''}`,
      e.label,
      r.row?.state ?? '(not reported)',
      e.direction,
      cell(e.direction, r.tcpdir, true),
      cell(e.direction, r.baseline, false),
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

interface Tally { n: number; correct: number; wrong: number; wrongConfident: number; unknown: number; missing: number }

function tally(rows: Scored[], pick: (r: Scored) => Verdict | null): Tally {
  const t: Tally = { n: 0, correct: 0, wrong: 0, wrongConfident: 0, unknown: 0, missing: 0 };
  for (const r of rows) {
    const v = pick(r);
    const oc = outcomeOf(r.expectation.direction, v);
    t.n++;
    t[oc]++;
    if (oc === 'wrong' && v && v.confidence >= 0.9) t.wrongConfident++;
  }
  return t;
}

function pct(a: number, n: number): string {
  return n ? `${((100 * a) / n).toFixed(0)}%` : '–';
}

function totalsTable(groups: Array<{ name: string; rows: Scored[] }>): string {
  const lines = [
    '| run | classifier | sockets | correct | wrong | wrong at ≥ 0.9 | unknown | not reported | right when answering |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const g of groups) {
    for (const [who, pick] of [['tcpdir', (r: Scored) => r.tcpdir], ['classic rules', (r: Scored) => r.baseline]] as const) {
      const t = tally(g.rows, pick);
      lines.push(`| ${g.name} | ${who} | ${t.n} | ${t.correct} (${pct(t.correct, t.n)}) | ${t.wrong} (${pct(t.wrong, t.n)}) | ` +
        `${t.wrongConfident} | ${t.unknown} | ${t.missing} | ${pct(t.correct, t.correct + t.wrong)} |`);
    }
  }
  return lines.join('\n');
}

const BUCKETS: Array<[number, number]> = [[0.5, 0.6], [0.6, 0.7], [0.7, 0.8], [0.8, 0.9], [0.9, 0.99], [0.99, 1.0001]];

function calibrationTable(rows: Scored[]): string {
  const lines = ['| tcpdir confidence | verdicts | right | accuracy | mean confidence |', '|---|---|---|---|---|'];
  const unknown = rows.filter((r) => r.tcpdir?.direction === 'UNKNOWN').length;
  for (const [lo, hi] of BUCKETS) {
    const inB = rows.filter((r) => r.tcpdir && r.tcpdir.direction !== 'UNKNOWN' && r.tcpdir.confidence >= lo && r.tcpdir.confidence < hi);
    const right = inB.filter((r) => outcomeOf(r.expectation.direction, r.tcpdir) === 'correct').length;
    const mean = inB.length ? inB.reduce((s, r) => s + r.tcpdir!.confidence, 0) / inB.length : NaN;
    const label = hi > 1 ? `[${lo.toFixed(2)}, 1.00]` : `[${lo.toFixed(2)}, ${hi.toFixed(2)})`;
    lines.push(`| ${label} | ${inB.length} | ${right} | ${pct(right, inB.length)} | ${Number.isNaN(mean) ? '–' : mean.toFixed(3)} |`);
  }
  lines.push(`| UNKNOWN | ${unknown} | – | – | – |`);
  return lines.join('\n');
}

function ordinalIndex(rows: Scored[]): Map<string, Scored> {
  const seen = new Map<string, number>();
  const out = new Map<string, Scored>();
  for (const r of rows) {
    const base = `${r.expectation.scenario}|${r.expectation.label}`;
    const i = seen.get(base) ?? 0;
    seen.set(base, i + 1);
    out.set(`${base}|${i}`, r);
  }
  return out;
}

async function main(): Promise<void> {
  const reason = unsupportedReason();
  if (reason) throw new Error(`bench:accuracy needs the scenario suite, which cannot run here: ${reason}`);
  const modes = choose<RunMode>(arg('--mode', 'both'), ['isolated', 'combined'], 'mode');
  const sources = choose<SourceName>(arg('--source', 'both'), ['netlink', 'procfs'], 'source');
  const started = Date.now();
  const groups: Array<{ name: string; rows: Scored[] }> = [];
  for (const mode of modes) {
    const obs = await runScenarios({ mode, sources, log: (l) => process.stderr.write(`${l}\n`) });
    for (const source of sources) {
      const rows = obs.filter((o) => o.source === source).map((o) => ({ ...o, tcpdir: o.row?.verdict ?? null, baseline: baselineFor(o) }));
      groups.push({ name: `${mode} / ${source}`, rows });
    }
  }
  const all = groups.flatMap((g) => g.rows);
  const out: string[] = [];
  out.push(`## Direction accuracy on ${new Set(all.map((r) => r.scenario.name)).size} scenarios`, '');
  out.push('Real connections of known direction between two network namespaces (`test/scenarios`); the agent ' +
    'namespace uses ephemeral ports 20000-29999. "classic rules": listener on the same address or wildcard → ' +
    'inbound; local endpoint shared → inbound; local port in the ephemeral range → outbound; port < 1024 → ' +
    'inbound; else outbound, each counted at confidence 1. `*` marks scenarios where the kernel state alone ' +
    'cannot settle the direction.', '');
  out.push('### Totals', '', totalsTable(groups), '');
  out.push(`### Per scenario (${groups[0].name})`, '', perScenarioTable(groups[0].rows), '');
  // Where the other runs disagree with the first one, say so rather than print every table.
  // Runs pick different ephemeral ports, so sockets are matched by scenario, label and ordinal.
  const first = ordinalIndex(groups[0].rows);
  for (const g of groups.slice(1)) {
    const diffs = [...ordinalIndex(g.rows)].filter(([key, r]) => {
      const a = first.get(key);
      return !a || a.tcpdir?.direction !== r.tcpdir?.direction || Math.abs((a.tcpdir?.confidence ?? 0) - (r.tcpdir?.confidence ?? 0)) > 0.01;
    }).map(([, r]) => r);
    if (diffs.length) out.push(`### ${g.name}: verdicts that differ from ${groups[0].name}`, '', perScenarioTable(diffs), '');
    else out.push(`${g.name}: every tcpdir verdict matches ${groups[0].name}.`, '');
  }
  out.push(`### Calibration of tcpdir (all runs pooled, ${all.length} verdicts)`, '', calibrationTable(all), '');
  out.push(`_${all.length} socket observations in ${((Date.now() - started) / 1000).toFixed(1)} s._`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:accuracy: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
