// What the benchmarks share: their options, medians, and the RSS of a process they run.
import { readFileSync } from 'node:fs';

/** `--name value` from the command line, else `dflt`. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** RSS of a process, from /proc (MiB). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Peak RSS of `pid` while `fn` runs, sampled every 5 ms. */
export async function peakRssDuring<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; before: number; peak: number; after: number }> {
  const before = rssMiB(pid);
  let peak = before;
  const t = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 5);
  try {
    const value = await fn();
    peak = Math.max(peak, rssMiB(pid));
    return { value, before, peak, after: rssMiB(pid) };
  } finally {
    clearInterval(t);
  }
}
