// The recorder's open lives (one per connection: 100k at 100k sockets) as columns indexed by a
// slot, with a map from the life's socket (cookie, or socket id in SNAPSHOT mode) to its slot.
// An object per life cost 184 bytes plus two boxed numbers (its first sighting and cookie) and
// the map's entry: 24 MiB at 100k sockets (heap snapshot); the columns take about 90 bytes a
// life plus the entry. Addresses are references to the strings the snapshot or the event holds;
// namespaces, rules and commands, few different ones, are numbers into a table of them.
import type { CookieKey } from '../model';
import { LIFE_DIRECTIONS, type ConnectionLife, type LifeDirection, type ObservedBy } from './record';

/** Bits of `flags`; the direction is bits 0-1 (its index in LIFE_DIRECTIONS). */
const IPV6 = 4;
const CERTAIN = 8;
const PRE_EXISTING = 16;
const KERNEL = 32;
const UNANNOUNCED = 64;
const CLOSED = 128;

/** What a life is opened with (the facts of an open ConnectionLife, without its key or openedAt). */
export type OpenFacts = Pick<ConnectionLife,
  'netns' | 'family' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort' | 'direction' | 'confidence'
  | 'certain' | 'rule' | 'firstSeenAt' | 'preExisting' | 'pid' | 'command' | 'observedBy'>;

/**
 * The few different strings of a column (namespaces, rules, commands), each held once: a life
 * keeps its string's number (0: null). A full table is rebuilt from the open lives' strings.
 */
class StringTable {
  private readonly numbers = new Map<string, number>();
  readonly values: (string | null)[] = [null];

  /** Past this many, rebuilt (strings no open life holds any more are dropped). */
  limit = 65536;

  get full(): boolean {
    return this.values.length >= this.limit;
  }

  number(v: string | null): number {
    if (v === null) return 0;
    let n = this.numbers.get(v);
    if (n === undefined) {
      n = this.values.length;
      this.values.push(v);
      this.numbers.set(v, n);
    }
    return n;
  }
}

export class OpenLives {
  private readonly slots = new Map<CookieKey, number>();
  /** Slots free for the next life; `retired` ones wait for recycle() (see there). */
  private free: number[] = [];
  private retired: number[] = [];
  private capacity = 0;
  /** Next slot never used. */
  private top = 0;
  private ids: CookieKey[] = [];
  private localAddresses: string[] = [];
  private remoteAddresses: string[] = [];
  private strings = new StringTable();
  /** Numbers in `strings`. */
  private netnss: Uint32Array = new Uint32Array(0);
  private rules: Uint32Array = new Uint32Array(0);
  private commands: Uint32Array = new Uint32Array(0);
  private ports: Uint32Array = new Uint32Array(0);
  private flagss: Uint8Array = new Uint8Array(0);
  /** -1: no process known. */
  private pids: Int32Array = new Int32Array(0);
  private confidences: Float64Array = new Float64Array(0);
  private firstSeen: Float64Array = new Float64Array(0);
  /** The last ingest() batch that wrote the life, and the one it was born in (0: by a snapshot); below 2^32. */
  private batches: Uint32Array = new Uint32Array(0);
  private bornIns: Uint32Array = new Uint32Array(0);
  /** The last snapshot look that listed the life (Recorder's pass number), 0 for none. */
  private seenIns: Uint32Array = new Uint32Array(0);

  get size(): number {
    return this.slots.size;
  }

  /** The slot of the open life of `id`, or -1. */
  slotOf(id: CookieKey): number {
    return this.slots.get(id) ?? -1;
  }

  has(id: CookieKey): boolean {
    return this.slots.has(id);
  }

  /** The ids of open lives in the order they were opened, with their slots (deleting while iterating is safe). */
  entries(): IterableIterator<[CookieKey, number]> {
    return this.slots.entries();
  }

  /** The id of the oldest open life. */
  oldest(): CookieKey | undefined {
    return this.slots.keys().next().value;
  }

  /** Opens a life under `id` (not open already); its slot. */
  add(id: CookieKey, f: OpenFacts, unannounced: boolean, bornIn: number): number {
    const s = this.free.length ? this.free.pop()! : this.top++;
    if (s >= this.capacity) this.grow();
    this.slots.set(id, s);
    this.ids[s] = id;
    this.localAddresses[s] = f.localAddress;
    this.remoteAddresses[s] = f.remoteAddress;
    this.netnss[s] = this.stringNumber(f.netns);
    this.rules[s] = this.stringNumber(f.rule);
    this.commands[s] = this.stringNumber(f.command);
    this.ports[s] = f.localPort * 65536 + f.remotePort;
    this.pids[s] = f.pid ?? -1;
    this.confidences[s] = f.confidence;
    this.firstSeen[s] = f.firstSeenAt;
    this.batches[s] = 0;
    this.bornIns[s] = bornIn;
    this.seenIns[s] = 0;
    this.flagss[s] = LIFE_DIRECTIONS.indexOf(f.direction) | (f.family === 'IPV6' ? IPV6 : 0) | (f.certain ? CERTAIN : 0)
      | (f.preExisting ? PRE_EXISTING : 0) | (f.observedBy === 'KERNEL' ? KERNEL : 0) | (unannounced ? UNANNOUNCED : 0);
    return s;
  }

  /**
   * Forgets the open life of `id`. Its slot (and what it holds) stays as it is until recycle():
   * a batch of events keeps the slots it touched to write them at its end.
   */
  delete(id: CookieKey): void {
    const s = this.slots.get(id);
    if (s === undefined) return;
    this.slots.delete(id);
    this.retired.push(s);
  }

  /** Slots of lives deleted so far become free (no slot of theirs is held any more). */
  recycle(): void {
    if (this.retired.length === 0) return;
    for (const s of this.retired) {
      // Let go of the strings.
      this.localAddresses[s] = this.remoteAddresses[s] = null as never;
      this.netnss[s] = this.rules[s] = this.commands[s] = 0;
      this.free.push(s);
    }
    this.retired = [];
  }

  id(s: number): CookieKey { return this.ids[s]; }
  netns(s: number): string | null { return this.strings.values[this.netnss[s]]; }
  localAddress(s: number): string { return this.localAddresses[s]; }
  remoteAddress(s: number): string { return this.remoteAddresses[s]; }
  localPort(s: number): number { return Math.floor(this.ports[s] / 65536); }
  remotePort(s: number): number { return this.ports[s] & 0xffff; }
  family(s: number): 'IPV4' | 'IPV6' { return this.flagss[s] & IPV6 ? 'IPV6' : 'IPV4'; }
  direction(s: number): LifeDirection { return LIFE_DIRECTIONS[this.flagss[s] & 3]; }
  confidence(s: number): number { return this.confidences[s]; }
  certain(s: number): boolean { return (this.flagss[s] & CERTAIN) !== 0; }
  rule(s: number): string | null { return this.strings.values[this.rules[s]]; }
  firstSeenAt(s: number): number { return this.firstSeen[s]; }
  preExisting(s: number): boolean { return (this.flagss[s] & PRE_EXISTING) !== 0; }
  pid(s: number): number | null { const p = this.pids[s]; return p < 0 ? null : p; }
  command(s: number): string | null { return this.strings.values[this.commands[s]]; }
  observedBy(s: number): ObservedBy { return this.flagss[s] & KERNEL ? 'KERNEL' : 'SNAPSHOT'; }
  /** Its OPENED waits for its local port (see Recorder.born). */
  unannounced(s: number): boolean { return (this.flagss[s] & UNANNOUNCED) !== 0; }
  closed(s: number): boolean { return (this.flagss[s] & CLOSED) !== 0; }
  batch(s: number): number { return this.batches[s]; }
  bornIn(s: number): number { return this.bornIns[s]; }
  seenIn(s: number): number { return this.seenIns[s]; }

  setNetns(s: number, netns: string | null): void { this.netnss[s] = this.stringNumber(netns); }
  setLocal(s: number, address: string, port: number): void {
    this.localAddresses[s] = address;
    this.ports[s] = port * 65536 + (this.ports[s] & 0xffff);
  }
  setProcess(s: number, pid: number, command: string): void {
    this.pids[s] = pid;
    this.commands[s] = this.stringNumber(command);
  }
  setVerdict(s: number, direction: LifeDirection, confidence: number, certain: boolean, rule: string | null): void {
    this.flagss[s] = (this.flagss[s] & ~(3 | CERTAIN)) | LIFE_DIRECTIONS.indexOf(direction) | (certain ? CERTAIN : 0);
    this.confidences[s] = confidence;
    this.rules[s] = this.stringNumber(rule);
  }
  announced(s: number): void { this.flagss[s] &= ~UNANNOUNCED; }
  setClosed(s: number): void { this.flagss[s] |= CLOSED; }
  setBatch(s: number, batch: number): void { this.batches[s] = batch; }
  /** A snapshot look listed it (pass: a number below 2^32). */
  see(s: number, pass: number): void { this.seenIns[s] = pass; }

  private stringNumber(v: string | null): number {
    if (this.strings.full) {
      // Only the strings slots hold now (any slot: a retired one may still be read).
      const old = this.strings.values;
      const t = new StringTable();
      for (let s = 0; s < this.top; s++) {
        this.netnss[s] = t.number(old[this.netnss[s]]);
        this.rules[s] = t.number(old[this.rules[s]]);
        this.commands[s] = t.number(old[this.commands[s]]);
      }
      t.limit = Math.max(t.limit, 2 * t.values.length);
      this.strings = t;
    }
    return this.strings.number(v);
  }

  /** Columns grow by half (100k lives: 150k slots at most, not 200k). */
  private grow(): void {
    const n = Math.max(1024, Math.ceil(this.capacity * 1.5));
    const u = (a: Uint32Array): Uint32Array => { const b = new Uint32Array(n); b.set(a); return b; };
    const f = (a: Float64Array): Float64Array => { const b = new Float64Array(n); b.set(a); return b; };
    const u8 = new Uint8Array(n); u8.set(this.flagss); this.flagss = u8;
    const i32 = new Int32Array(n); i32.set(this.pids); this.pids = i32;
    this.ports = u(this.ports);
    this.netnss = u(this.netnss);
    this.rules = u(this.rules);
    this.commands = u(this.commands);
    this.seenIns = u(this.seenIns);
    this.batches = u(this.batches);
    this.bornIns = u(this.bornIns);
    this.confidences = f(this.confidences);
    this.firstSeen = f(this.firstSeen);
    this.capacity = n;
  }
}
