import type { IdLookup } from '../model';

/** A decimal id whose number prints back to the same text (no leading zero, below 2^53), else -1. */
function numericId(id: string): number {
  if (id.length === 0 || id.length > 15 || (id.length > 1 && id.charCodeAt(0) === 48)) return -1;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(id);
}

/**
 * A fixed set of socket ids. Kernel cookies (decimal text, every id of the netlink and eBPF
 * sources) are kept as sorted numbers, 8 bytes each; other ids (procfs tuples) in a Set. For
 * the connections of a big host's first snapshot, which the history keeps while they last: a
 * Set of 100k ids held a 2.5 MiB table.
 */
export class IdSet implements IdLookup {
  private readonly nums: Float64Array;
  private readonly others: ReadonlySet<string>;

  constructor(ids: Iterable<string>) {
    const nums: number[] = [];
    const others = new Set<string>();
    for (const id of ids) {
      const n = numericId(id);
      if (n >= 0) nums.push(n);
      else others.add(id);
    }
    const sorted = Float64Array.from(nums).sort();
    // Distinct values only (an id given twice is one member).
    let k = 0;
    for (let i = 0; i < sorted.length; i++) if (k === 0 || sorted[i] !== sorted[k - 1]) sorted[k++] = sorted[i];
    this.nums = sorted.slice(0, k);
    this.others = others;
  }

  get size(): number {
    return this.nums.length + this.others.size;
  }

  has(id: string): boolean {
    const n = numericId(id);
    if (n < 0) return this.others.has(id);
    const a = this.nums;
    let lo = 0, hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] < n) lo = mid + 1;
      else if (a[mid] > n) hi = mid - 1;
      else return true;
    }
    return false;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (const n of this.nums) yield String(n);
    yield* this.others;
  }
}
