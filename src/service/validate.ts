import { canonicalAddress, MAX_LIMIT } from '../model';
import { InputError } from './errors';

export { MAX_LIMIT };

export function checkPort(name: string, v: number | null | undefined): void {
  if (v === undefined || v === null) return;
  if (!Number.isInteger(v) || v < 0 || v > 65535) throw new InputError(name, `${name} must be an integer from 0 to 65535, got ${v}`);
}

export function checkConfidence(name: string, v: number | null | undefined): void {
  if (v === undefined || v === null) return;
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new InputError(name, `${name} must be a number from 0 to 1, got ${v}`);
}

export function checkLimit(limit: number, offset: number): void {
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_LIMIT) throw new InputError('limit', `limit must be an integer from 0 to ${MAX_LIMIT}, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new InputError('offset', `offset must be a non-negative integer, got ${offset}`);
}

/**
 * A namespace as history keeps it: its nsfs id. A /run/netns name (or a typo) matched nothing and
 * answered an empty list: names come and go, and the store holds ids only.
 */
export function checkNetnsId(name: string, v: string | null | undefined): void {
  if (v === undefined || v === null) return;
  if (!/^net:\[\d{1,20}\]$/.test(v)) throw new InputError(name, `${name} must be a namespace's nsfs id such as net:[4026531840] (history keeps ids, not names), got ${JSON.stringify(v.slice(0, 64))}`);
}

/** Canonical text of an IP address argument, or an InputError naming the parameter. */
export function checkAddress(name: string, v: string): string {
  const a = v.length <= 64 ? canonicalAddress(v) : null;
  if (a === null) throw new InputError(name, `${name} must be an IPv4 or IPv6 address, got ${JSON.stringify(v.slice(0, 64))}`);
  return a;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An ISO-8601 time or a duration back from `now` (15m, 1h, 7d) as epoch ms; undefined when absent. */
export function parseTime(name: string, v: string | null | undefined, now = Date.now()): number | undefined {
  if (v === undefined || v === null) return undefined;
  const d = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(v.trim());
  if (d) return now - Number(d[1]) * UNIT_MS[d[2]];
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new InputError(name, `${name} must be an ISO-8601 time or a duration such as 15m, 1h or 7d; got ${JSON.stringify(v.slice(0, 40))}`);
  return t;
}
