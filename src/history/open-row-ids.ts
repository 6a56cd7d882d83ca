// The history writer's row ids of the lives it wrote open, by key (100k at 100k sockets). A key
// of the recorder's form `k:<socket>:<first seen>` or `s:<socket>:<first seen>` with both numbers
// plain decimal integers (every key in KERNEL mode, where the socket is its cookie) is held as
// three numbers in an open-addressing table; any other key as text in a Map. A Map keyed by the
// text cost ~80 bytes a key (the key's string and the entry: 8.1 MiB at 100k, heap snapshot); a
// slot of the table is 25 bytes, at most 4 slots for 3 keys.

/** The parts of the last key parse() accepted (module scratch: no object per lookup). */
let pTag = 0;
let pSocket = 0;
let pAt = 0;

/** A decimal integer of 1-15 digits without a leading zero from `i` up to `end`, or -1. */
function digits(key: string, i: number, end: number): number {
  const n = end - i;
  if (n < 1 || n > 15 || (n > 1 && key.charCodeAt(i) === 48)) return -1;
  let v = 0;
  for (; i < end; i++) {
    const c = key.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Whether `key` is `<k|s>:<n>:<m>` with n and m as digits() reads them. Each such key has one
 * (tag, n, m) and each (tag, n, m) one key: held as numbers, keys stay apart exactly as texts.
 */
function parse(key: string): boolean {
  const c0 = key.charCodeAt(0);
  if ((c0 !== 107 && c0 !== 115) || key.charCodeAt(1) !== 58) return false;
  const colon = key.indexOf(':', 2);
  if (colon < 0) return false;
  const socket = digits(key, 2, colon);
  const at = socket < 0 ? -1 : digits(key, colon + 1, key.length);
  if (at < 0) return false;
  pTag = c0 === 107 ? 1 : 2;
  pSocket = socket;
  pAt = at;
  return true;
}

const MAX_LOAD = 0.75;

export class OpenRowIds {
  /** 0: an empty slot; 1: a `k:` key; 2: an `s:` key. */
  private tags = new Uint8Array(0);
  private sockets = new Float64Array(0);
  private ats = new Float64Array(0);
  private ids = new Float64Array(0);
  private count = 0;
  private readonly texts = new Map<string, number>();

  get size(): number {
    return this.count + this.texts.size;
  }

  get(key: string): number | undefined {
    if (!parse(key)) return this.texts.get(key);
    const i = this.find(pTag, pSocket, pAt);
    return i < 0 ? undefined : this.ids[i];
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, id: number): void {
    if (!parse(key)) {
      this.texts.set(key, id);
      return;
    }
    const tag = pTag, socket = pSocket, at = pAt;
    let i = this.find(tag, socket, at);
    if (i >= 0) {
      this.ids[i] = id;
      return;
    }
    if (this.count + 1 > this.tags.length * MAX_LOAD) this.resize(Math.max(64, Math.ceil(this.tags.length * 1.5)));
    const cap = this.tags.length;
    for (i = this.home(socket, at); this.tags[i] !== 0; i = i + 1 === cap ? 0 : i + 1);
    this.tags[i] = tag;
    this.sockets[i] = socket;
    this.ats[i] = at;
    this.ids[i] = id;
    this.count++;
  }

  delete(key: string): void {
    if (!parse(key)) {
      this.texts.delete(key);
      return;
    }
    let i = this.find(pTag, pSocket, pAt);
    if (i < 0) return;
    // Backward-shift deletion: entries after it in its run move up when their home allows.
    const { tags, sockets, ats, ids } = this;
    const cap = tags.length;
    for (let j = i; ;) {
      j = j + 1 === cap ? 0 : j + 1;
      if (tags[j] === 0) break;
      const h = this.home(sockets[j], ats[j]);
      // It stays when its home lies cyclically in (i, j].
      if (i <= j ? i < h && h <= j : i < h || h <= j) continue;
      tags[i] = tags[j];
      sockets[i] = sockets[j];
      ats[i] = ats[j];
      ids[i] = ids[j];
      i = j;
    }
    tags[i] = 0;
    this.count--;
    if (cap > 1024 && this.count * 4 < cap) this.resize(Math.max(64, this.count * 2));
  }

  /** Every key, as text. */
  keys(): string[] {
    const out = [...this.texts.keys()];
    for (let i = 0; i < this.tags.length; i++) {
      const t = this.tags[i];
      if (t !== 0) out.push(`${t === 1 ? 'k' : 's'}:${this.sockets[i]}:${this.ats[i]}`);
    }
    return out;
  }

  clear(): void {
    this.texts.clear();
    this.count = 0;
    this.tags = new Uint8Array(0);
    this.sockets = this.ats = this.ids = new Float64Array(0);
  }

  private home(socket: number, at: number): number {
    let h = Math.imul((socket >>> 0) ^ Math.imul(Math.floor(socket / 4294967296) ^ (at >>> 0), 0x85ebca6b), 0x9e3779b1);
    h ^= h >>> 16;
    return Math.floor(((h >>> 0) * this.tags.length) / 4294967296);
  }

  private find(tag: number, socket: number, at: number): number {
    const { tags, sockets, ats } = this;
    const cap = tags.length;
    if (cap === 0) return -1;
    for (let i = this.home(socket, at); ; i = i + 1 === cap ? 0 : i + 1) {
      const t = tags[i];
      if (t === 0) return -1;
      if (t === tag && sockets[i] === socket && ats[i] === at) return i;
    }
  }

  private resize(cap: number): void {
    const { tags, sockets, ats, ids } = this;
    this.tags = new Uint8Array(cap);
    this.sockets = new Float64Array(cap);
    this.ats = new Float64Array(cap);
    this.ids = new Float64Array(cap);
    for (let j = 0; j < tags.length; j++) {
      if (tags[j] === 0) continue;
      let i = this.home(sockets[j], ats[j]);
      while (this.tags[i] !== 0) i = i + 1 === cap ? 0 : i + 1;
      this.tags[i] = tags[j];
      this.sockets[i] = sockets[j];
      this.ats[i] = ats[j];
      this.ids[i] = ids[j];
    }
  }
}
