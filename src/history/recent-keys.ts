// Keys remembered for a while, in two generations: a full young one becomes the old one and the
// old one is dropped whole. A Map trimmed from its front (delete(keys().next().value)) costs a
// walk over every key deleted before, since V8 keeps their slots until it rehashes: under churn
// that walk was half the recorder's CPU (27 µs per close at 65k keys, measured).

export class RecentKeys {
  private young = new Set<string>();
  private old = new Set<string>();
  /** The latest time added to each generation (keys come about in time order). */
  private youngAt = -Infinity;
  private oldAt = -Infinity;

  /** Keeps at least the last `capacity / 2` keys added and at most `capacity`. */
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.young.size + this.old.size;
  }

  add(key: string, at: number): void {
    if (this.young.size >= this.capacity >> 1) {
      this.old = this.young;
      this.oldAt = this.youngAt;
      this.young = new Set();
      this.youngAt = -Infinity;
    }
    this.young.add(key);
    if (at > this.youngAt) this.youngAt = at;
  }

  has(key: string): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  /** Forgets the generations whose every key was added before `t` (some older keys may stay). */
  forgetBefore(t: number): void {
    if (this.oldAt < t) { this.old = new Set(); this.oldAt = -Infinity; }
    if (this.youngAt < t) { this.young = this.old; this.youngAt = this.oldAt; this.old = new Set(); this.oldAt = -Infinity; }
  }
}
