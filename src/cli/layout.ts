/**
 * Table layout for a terminal: on a TTY rows are cut to its width (never wrapped) and may be
 * coloured; piped, lines stay whole and plain so grep and awk see every character.
 */
export interface Layout {
  /** Columns to fit; undefined = full lines. */
  width?: number;
  color: boolean;
}

/** COLUMNS wins over the terminal's own size so scripts (and tests under `script`) can pin it. */
export function terminalLayout(out: { isTTY?: boolean; columns?: number } = process.stdout, env = process.env): Layout {
  if (!out.isTTY) return { color: false };
  const cols = Number(env.COLUMNS);
  // NO_COLOR set to anything, even empty, turns colour off (as asked by the user, not no-color.org);
  // so does TERM=dumb, a terminal that shows escape sequences as text.
  return { width: Number.isInteger(cols) && cols > 0 ? cols : out.columns || 80, color: env.NO_COLOR === undefined && env.TERM !== 'dumb' };
}

/** `s` in at most `w` columns; `tail` keeps the part after the last ':' (an endpoint's port). */
export function cut(s: string, w: number, tail = false): string {
  if (s.length <= w) return s;
  if (w <= 1) return '…'.slice(0, w);
  const end = tail ? s.slice(s.lastIndexOf(':')) : '';
  return end && end.length < w - 1 ? `${s.slice(0, w - 1 - end.length)}…${end}` : `${s.slice(0, w - 1)}…`;
}

/**
 * `line` broken at spaces into lines of at most `width` columns, the later ones indented by
 * `indent` spaces (a word longer than a line stays whole). Prose on a TTY: wrapped where the
 * terminal would cut a word in two.
 */
export function wrap(line: string, width: number, indent: number): string[] {
  const out: string[] = [];
  const lead = /^ */.exec(line)![0];
  let cur = lead;
  for (const word of line.slice(lead.length).split(' ')) {
    const next = cur.trim() === '' ? cur + word : `${cur} ${word}`;
    if (next.length <= width || cur.trim() === '') cur = next;
    else {
      out.push(cur);
      cur = `${' '.repeat(indent)}${word}`;
    }
  }
  out.push(cur);
  return out;
}

export interface Column {
  header: string;
  /** Narrowest this column is cut to before whole lines are cut; absent = never cut. */
  min?: number;
  /** Cut in the middle, keeping the ":port". */
  tail?: boolean;
  /**
   * Left out, lowest first, while the table is wider than the terminal, before any column is cut:
   * a stub of an extra column is worth less than the whole of an address.
   */
  drop?: number;
}

/** Widths summing (with 2-space gaps) to at most `width`: the widest cuttable column gives first. */
export function fitWidths(cols: Column[], natural: number[], width: number): number[] {
  const w = [...natural];
  let over = w.reduce((a, b) => a + b, 0) + 2 * (w.length - 1) - width;
  while (over > 0) {
    let pick = -1;
    for (let i = 0; i < w.length; i++) {
      const min = cols[i].min;
      if (min !== undefined && w[i] > min && (pick < 0 || w[i] > w[pick])) pick = i;
    }
    if (pick < 0) break;
    w[pick]--;
    over--;
  }
  return w;
}

/**
 * Columns sized to their content, fitted to `width` when given; the last column is not padded.
 * Past every column's minimum, trailing columns are left out rather than shown as a stub.
 */
export function layoutTable(allCols: Column[], allRows: string[][], width?: number): string[] {
  const allNatural = allCols.map((c, i) => Math.max(c.header.length, ...allRows.map((r) => r[i].length)));
  const keep = allCols.map((_, i) => i);
  const total = () => keep.reduce((a, i) => a + allNatural[i] + 2, -2);
  while (width !== undefined && total() > width) {
    let pick = -1;
    for (const i of keep) if (allCols[i].drop !== undefined && (pick < 0 || allCols[i].drop! < allCols[pick].drop!)) pick = i;
    if (pick < 0) break;
    keep.splice(keep.indexOf(pick), 1);
  }
  const cols = keep.map((i) => allCols[i]);
  const rows = allRows.map((r) => keep.map((i) => r[i]));
  const natural = keep.map((i) => allNatural[i]);
  const widths = width === undefined ? natural : fitWidths(cols, natural, width);
  let n = cols.length;
  while (width !== undefined && n > 1 && widths.slice(0, n).reduce((a, b) => a + b + 2, -2) > width) n--;
  const line = (cells: string[]) =>
    cells.slice(0, n).map((c, i) => {
      const s = cut(c, widths[i], cols[i].tail);
      return i === n - 1 ? s : s.padEnd(widths[i]);
    }).join('  ');
  // A terminal narrower than the first column alone: cut the line itself.
  return [cols.map((c) => c.header), ...rows].map(line).map((l) => (width === undefined ? l : cut(l.trimEnd(), width)));
}

const COLORS: Record<string, string> = { INBOUND: '\x1b[32m', OUTBOUND: '\x1b[36m', UNKNOWN: '\x1b[33m' };

/** Colours a direction word at the start of a line (plain ANSI: no dependency, no terminfo). */
export function colorDirection(line: string): string {
  const m = /^(INBOUND|OUTBOUND|UNKNOWN)\b/.exec(line);
  return m ? `${COLORS[m[1]]}${m[1]}\x1b[0m${line.slice(m[1].length)}` : line;
}
