import type { HistoryRecord } from '../schema';
import { formatEndpoint } from '../model';
import { colorDirection, cut, layoutTable, wrap, type Column, type Layout } from './layout';

export interface Row {
  id: string;
  state: string;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  verdict: { direction: string; confidence: number; certain: boolean; inboundProbability: number; evidence: { rule: string; favors: string; weight: number; detail: string }[] };
  netns?: string | null;
  processes?: { pid: number; command: string }[];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function confidenceText(v: Row['verdict']): string {
  if (v.certain) return 'certain';
  if (v.direction === 'UNKNOWN') return `p(in)=${v.inboundProbability.toFixed(2)}`;
  return v.confidence.toFixed(3);
}

/** The owner as command/pid; ",+N" when N more processes hold the socket. */
export function processText(r: Row): string {
  const [p, ...more] = r.processes ?? [];
  return p ? `${p.command}/${p.pid}${more.length ? `,+${more.length}` : ''}` : '-';
}

/** Sort key of an address: IPv4 (and v4-mapped IPv6) before IPv6, each in numeric order. */
export function addressKey(a: string): string {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(a);
  if (v4) return `4${v4.slice(1).map((n) => n.padStart(3, '0')).join('')}`;
  const [head, tail] = a.toLowerCase().split('%')[0].split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `6${groups.map((g) => g.padStart(4, '0')).join('')}`;
}

/**
 * The order `list` prints rows in, as indexes into `rows`: by local address and port, then remote;
 * stable. Each distinct address is ranked once; rows then compare by two numbers (rank and port),
 * not by strings (string keys took 50-70 ms of a cold 40k-row list).
 */
export function connectionOrder(rows: readonly Pick<Row, 'local' | 'remote'>[]): number[] {
  const rank = new Map<string, number>();
  for (const r of rows) {
    rank.set(r.local.address, 0);
    rank.set(r.remote.address, 0);
  }
  const keyed = [...rank.keys()].map((a) => [addressKey(a), a] as const).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  // Addresses with one key (1.2.3.4 and ::ffff:1.2.3.4) share a rank.
  keyed.forEach(([k, a], i) => rank.set(a, i > 0 && k === keyed[i - 1][0] ? rank.get(keyed[i - 1][1])! : i));
  const n = rows.length;
  const local = new Float64Array(n);
  const remote = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    local[i] = rank.get(r.local.address)! * 65536 + r.local.port;
    remote[i] = rank.get(r.remote.address)! * 65536 + r.remote.port;
  }
  // Few distinct addresses (the usual case): (local, remote, index) packed into one exact double
  // each, sorted natively; else a comparison sort.
  const span = keyed.length * 65536;
  if (span * span * n < Number.MAX_SAFE_INTEGER) {
    const packed = new Float64Array(n);
    for (let i = 0; i < n; i++) packed[i] = (local[i] * span + remote[i]) * n + i;
    packed.sort();
    const order = new Array<number>(n);
    for (let i = 0; i < n; i++) order[i] = packed[i] % n;
    return order;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  return order.sort((a, b) => local[a] - local[b] || remote[a] - remote[b] || a - b);
}

/** "255.255.255.255:65535": any IPv4 endpoint, whole. */
const IPV4_ENDPOINT = 21;

export function connectionTable(rows: Row[], layout: Layout = { color: false }): string {
  // Verdict and state stay whole. On a narrow TTY the evidence, then the namespace, are left out
  // first; then the owner, then endpoints wider than a whole IPv4 one (IPv6, keeping the port),
  // give up width; past their minimums the line is cut.
  const lines = layoutTable(
    [
      { header: 'DIRECTION' }, { header: 'CONF' }, { header: 'STATE' },
      { header: 'LOCAL', min: IPV4_ENDPOINT, tail: true }, { header: 'REMOTE', min: IPV4_ENDPOINT, tail: true },
      { header: 'PROCESS', min: 7 }, { header: 'NETNS', min: 7, drop: 2 }, { header: 'TOP EVIDENCE', min: 5, drop: 1 },
    ],
    rows.map((r) => [
      r.verdict.direction,
      confidenceText(r.verdict),
      r.state,
      formatEndpoint(r.local.address, r.local.port),
      formatEndpoint(r.remote.address, r.remote.port),
      processText(r),
      r.netns ?? '-',
      r.verdict.evidence[0]?.detail ?? '(no evidence)',
    ]),
    layout.width,
  );
  return (layout.color ? lines.map(colorDirection) : lines).join('\n');
}

/** The verdict and its evidence in plain words. */
/** `tcpdir explain`'s text; with `width` (a TTY) each line is wrapped to it, evidence under its rule. */
export function explain(local: string, remote: string, v: Row['verdict'] | null, width?: number): string {
  const text = explainLines(local, remote, v);
  return (width === undefined ? text : text.flatMap((l) => wrap(l, width, l.startsWith('  ') ? 6 : 2))).join('\n');
}

function explainLines(local: string, remote: string, v: Row['verdict'] | null): string[] {
  if (!v) return [`No TCP connection ${local} -> ${remote} in the network namespaces tcpdir reads, right now.`];
  const head =
    v.direction === 'UNKNOWN'
      ? `${local} <-> ${remote}: direction UNKNOWN (P(inbound) = ${v.inboundProbability.toFixed(2)}; not enough evidence either way).`
      : `${local} <-> ${remote}: ${v.direction} (${v.certain ? 'certain' : `confidence ${(v.confidence * 100).toFixed(1)}%`}).`;
  const lines = v.evidence.map((e) =>
    e.favors === 'UNKNOWN'
      ? `  ${pad('', 1)} ${pad(e.rule, 22)} note: ${e.detail}`
      : `  ${e.favors === 'INBOUND' ? '+' : '-'} ${pad(e.rule, 22)} ${e.favors.toLowerCase()} by ${e.weight.toFixed(2)}: ${e.detail}`,
  );
  return [head, v.evidence.length ? 'Evidence (log-odds weights; + favours inbound, - outbound):' : 'No rule found anything.', ...lines];
}

export interface NamespaceRow {
  id: string;
  name: string | null;
  pids: number[];
  container: { runtime: string; id: string; podUid: string | null } | null;
  ephemeralPortRange: { low: number; high: number } | null;
  ephemeralPortRangeAssumed: boolean;
  source: string;
  reason: string | null;
  self: boolean;
  connectionCount: number;
  listenerCount: number;
}

/**
 * On a TTY narrower than the whole table, the reasons (prose) leave the table and follow it as
 * notes wrapped to the width, each under its namespace's id: a reason cut to a column says nothing.
 */
export function namespaceTable(rows: NamespaceRow[], layout: Layout = { color: false }): string {
  const cols: Column[] = [
    { header: 'NETNS' }, { header: 'NAME', min: 8 }, { header: 'PROCS', drop: 2 },
    { header: 'CONTAINER', min: 12, drop: 3 }, { header: 'PORT RANGE', drop: 4 }, { header: 'SOURCE' },
    { header: 'CONNS' }, { header: 'LISTEN', drop: 1 }, { header: 'REASON' },
  ];
  const cells = rows.map((r) => [
    r.id + (r.self ? ' (self)' : ''),
    r.name ?? '-',
    String(r.pids.length),
    r.container ? `${r.container.runtime}:${r.container.id.slice(0, 12)}` : '-',
    r.ephemeralPortRange ? `${r.ephemeralPortRange.low}-${r.ephemeralPortRange.high}${r.ephemeralPortRangeAssumed ? ' (assumed)' : ''}` : '-',
    r.source.toLowerCase(),
    String(r.connectionCount),
    String(r.listenerCount),
    r.reason ?? '',
  ]);
  const whole = layoutTable(cols, cells);
  if (layout.width === undefined || whole.every((l) => l.length <= layout.width!)) return whole.join('\n');
  const notes = rows.filter((r) => r.reason).flatMap((r) => wrap(`${r.id}: ${r.reason}`, layout.width!, 2));
  const table = layoutTable(cols.slice(0, -1), cells.map((c) => c.slice(0, -1)), layout.width);
  return [...table, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/**
 * History records as a table, newest first. On a TTY the times lose their year and milliseconds
 * (as ls -l shows recent files) and, while the table is wider than the terminal, who saw the life,
 * then its closing time, are left out before the owner and then the endpoints are cut.
 */
export function historyTable(rows: HistoryRecord[], layout: Layout = { color: false }): string {
  const t = (d: Date | null) => (d ? d.toISOString().replace('T', ' ').slice(layout.width === undefined ? 0 : 5, layout.width === undefined ? 23 : 19) : '-');
  const lines = layoutTable(
    [
      { header: 'OPENED' }, { header: 'CLOSED', drop: 2 }, { header: 'DIRECTION' }, { header: 'CONF' },
      { header: 'LOCAL', min: IPV4_ENDPOINT, tail: true }, { header: 'REMOTE', min: IPV4_ENDPOINT, tail: true },
      { header: 'PROCESS', min: 7 }, { header: 'SEEN BY', drop: 1 },
    ],
    rows.map((r) => [
      r.openedAt ? t(r.openedAt) : `<${t(r.firstSeenAt)}`, t(r.closedAt), r.direction, r.certain ? 'certain' : r.confidence.toFixed(2),
      formatEndpoint(r.local.address, r.local.port), formatEndpoint(r.remote.address, r.remote.port),
      r.process ? `${r.process.command}/${r.process.pid}` : '-', r.observedBy,
    ]),
    layout.width,
  );
  return lines.join('\n');
}

export interface EventLine {
  type: string;
  at: string;
  direction: string;
  certain: boolean;
  confidence: number;
  local: { address: string; port: number };
  remote: { address: string; port: number };
  process: { pid: number; command: string } | null;
}

/**
 * One event of `tcpdir watch`: time, what, direction, local <- remote (inbound) or -> (outbound).
 * With `width` (a TTY) cut to it, as the tables' rows are: a stream of lines is not re-wrapped.
 */
export function eventLine(e: EventLine, width?: number): string {
  const arrow = e.direction === 'INBOUND' ? '<-' : e.direction === 'OUTBOUND' ? '->' : '--';
  const sure = e.certain ? 'certain' : e.confidence.toFixed(2);
  const who = e.process ? ` ${e.process.command}/${e.process.pid}` : '';
  const line = `${e.at.slice(11, 23)} ${e.type.padEnd(15)} ${e.direction.padEnd(8)} ${sure.padEnd(7)} ${formatEndpoint(e.local.address, e.local.port)} ${arrow} ${formatEndpoint(e.remote.address, e.remote.port)}${who}`;
  return width === undefined ? line : cut(line, width);
}
