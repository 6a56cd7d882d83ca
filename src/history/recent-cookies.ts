// Cookies remembered for a while (the recorder's lately closed lives), as RecentKeys keeps keys:
// two generations, a full young one becomes the old one and the old one is dropped whole. Cookies
// that are numbers (all of them in practice, see CookieKey) go into open-addressing tables over
// Float64Arrays, reused from one generation to the next: a Set of them cost 0.6 µs per close
// under churn (its growth and rehashes every generation, measured with bench:events-pipeline).
// Text cookies (past 2^53) go to a RecentKeys.
import type { CookieKey } from '../model';
import { RecentKeys } from './recent-keys';

const EMPTY = -1;

/**
 * Starts small and doubles while filling, up to `maxSlots`: two full tables are 2 MiB, resident
 * on a host where connections hardly ever close. Once grown it stays (reused by the next generation).
 */
class CookieTable {
  private keys: Float64Array;
  private mask: number;
  size = 0;
  /** The latest time added (keys come about in time order). */
  at = -Infinity;

  constructor(private readonly maxSlots: number) {
    const slots = Math.min(maxSlots, 1024);
    this.keys = new Float64Array(slots).fill(EMPTY);
    this.mask = slots - 1;
  }

  private slot(key: number): number {
    const h = Math.imul((key >>> 0) ^ Math.imul(Math.floor(key / 4294967296), 0x85ebca6b), 0x9e3779b1);
    return (h ^ (h >>> 16)) & this.mask;
  }

  add(key: number): void {
    if (this.size * 2 >= this.keys.length && this.keys.length < this.maxSlots) this.grow();
    const keys = this.keys;
    let k = this.slot(key);
    for (;;) {
      const v = keys[k];
      if (v === key) return;
      if (v === EMPTY) break;
      k = (k + 1) & this.mask;
    }
    keys[k] = key;
    this.size++;
  }

  has(key: number): boolean {
    const keys = this.keys;
    for (let k = this.slot(key); ; k = (k + 1) & this.mask) {
      const v = keys[k];
      if (v === key) return true;
      if (v === EMPTY) return false;
    }
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Float64Array(old.length * 2).fill(EMPTY);
    this.mask = this.keys.length - 1;
    this.size = 0;
    for (const v of old) if (v !== EMPTY) this.add(v);
  }

  clear(): void {
    if (this.size > 0) this.keys.fill(EMPTY);
    this.size = 0;
    this.at = -Infinity;
  }
}

export class RecentCookies {
  private young: CookieTable;
  private old: CookieTable;
  private readonly texts: RecentKeys;
  /** Keys a generation holds at most: half the capacity. */
  private readonly generation: number;

  /** Keeps at least the last `capacity / 2` cookies added and at most `capacity`. */
  constructor(capacity: number) {
    this.generation = Math.max(1, capacity >> 1);
    let slots = 16;
    while (slots < this.generation * 2) slots *= 2; // at most half full: short probes
    this.young = new CookieTable(slots);
    this.old = new CookieTable(slots);
    this.texts = new RecentKeys(capacity);
  }

  get size(): number {
    return this.young.size + this.old.size + this.texts.size;
  }

  add(key: CookieKey, at: number): void {
    if (typeof key !== 'number') return this.texts.add(key, at);
    if (this.young.size >= this.generation) {
      const spare = this.old;
      this.old = this.young;
      spare.clear();
      this.young = spare;
    }
    this.young.add(key);
    if (at > this.young.at) this.young.at = at;
  }

  has(key: CookieKey): boolean {
    if (typeof key !== 'number') return this.texts.has(key);
    return this.young.has(key) || this.old.has(key);
  }

  /** Forgets the generations whose every cookie was added before `t` (some older ones may stay). */
  forgetBefore(t: number): void {
    if (this.old.at < t) this.old.clear();
    if (this.young.at < t) {
      const spare = this.young;
      this.young = this.old;
      this.old = spare;
      spare.clear();
    }
    this.texts.forgetBefore(t);
  }
}
