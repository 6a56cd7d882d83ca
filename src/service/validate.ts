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

/** Canonical text of an IP address argument, or an InputError naming the parameter. */
export function checkAddress(name: string, v: string): string {
  const a = v.length <= 64 ? canonicalAddress(v) : null;
  if (a === null) throw new InputError(name, `${name} must be an IPv4 or IPv6 address, got ${JSON.stringify(v.slice(0, 64))}`);
  return a;
}
