import { closeSync } from 'node:fs';
import {
  CONNTRACK_TCP_STATES, formatIPv4, formatIPv6,
  type ConntrackEntry, type ConntrackEvidence, type ConntrackNamespaceStatus, type ConntrackTuple,
} from '../model';
import { loadSockDiag } from './native';

// Netfilter's connection tracker over ctnetlink (NETLINK_NETFILTER): the addon returns the
// kernel's reply messages untouched (native/sockdiag/conntrack.cc); parseConntrack decodes them.
// Integers inside ctnetlink attributes are big-endian (ports, CTA_STATUS, CTA_ID, CTA_ZONE),
// unlike sock_diag's; nested attribute types carry NLA_F_NESTED and are masked.

const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;
const NLA_TYPE_MASK = 0x3fff;
/** (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW: dump replies and NEW/UPDATE events. */
const CT_NEW = (1 << 8) | 0;
const NLM_F_CREATE = 0x400;
const IPPROTO_TCP = 6;

const CTA = { TUPLE_ORIG: 1, TUPLE_REPLY: 2, STATUS: 3, PROTOINFO: 4, ID: 12, ZONE: 18 } as const;
const CTA_TUPLE = { IP: 1, PROTO: 2 } as const;
const CTA_IP = { V4_SRC: 1, V4_DST: 2, V6_SRC: 3, V6_DST: 4 } as const;
const CTA_PROTO = { NUM: 1, SRC_PORT: 2, DST_PORT: 3 } as const;
const CTA_PROTOINFO_TCP = 1;
const CTA_PROTOINFO_TCP_ = { STATE: 1, FLAGS_ORIGINAL: 4, FLAGS_REPLY: 5 } as const;

/** A reply that is not ctnetlink's format (a bug in the reader or a kernel this code does not know). */
export class ConntrackParseError extends Error {
  constructor(message: string) {
    super(`ctnetlink: ${message}`);
    this.name = 'ConntrackParseError';
  }
}

// The attribute walks below are plain loops (no callback per attribute): a busy NAT gateway holds
// 100k+ entries, and closures per nesting level made parsing three times slower.

/** Length of the attribute at `o` (checked against `end`); its type is buf.readUInt16LE(o + 2) & NLA_TYPE_MASK. */
function attrLen(buf: Buffer, o: number, end: number): number {
  const len = buf.readUInt16LE(o);
  if (len < 4 || o + len > end) throw new ConntrackParseError(`attribute at byte ${o} has length ${len}, past its container (${end})`);
  return len;
}

const next = (o: number, len: number): number => o + ((len + 3) & ~3);
const typeAt = (buf: Buffer, o: number): number => buf.readUInt16LE(o + 2) & NLA_TYPE_MASK;

interface RawTuple { src: string | null; dst: string | null; proto: number; srcPort: number; dstPort: number }

function parseTuple(buf: Buffer, s: number, e: number): RawTuple {
  const t: RawTuple = { src: null, dst: null, proto: -1, srcPort: 0, dstPort: 0 };
  for (let o = s; o + 4 <= e;) {
    const len = attrLen(buf, o, e);
    const type = typeAt(buf, o), a = o + 4, b = o + len;
    if (type === CTA_TUPLE.IP) {
      for (let x = a; x + 4 <= b;) {
        const l = attrLen(buf, x, b);
        const it = typeAt(buf, x), p = x + 4, n = l - 4;
        if (it === CTA_IP.V4_SRC && n >= 4) t.src = formatIPv4(buf, p);
        else if (it === CTA_IP.V4_DST && n >= 4) t.dst = formatIPv4(buf, p);
        else if (it === CTA_IP.V6_SRC && n >= 16) t.src = formatIPv6(buf, p);
        else if (it === CTA_IP.V6_DST && n >= 16) t.dst = formatIPv6(buf, p);
        x = next(x, l);
      }
    } else if (type === CTA_TUPLE.PROTO) {
      for (let x = a; x + 4 <= b;) {
        const l = attrLen(buf, x, b);
        const pt = typeAt(buf, x), p = x + 4, n = l - 4;
        if (pt === CTA_PROTO.NUM && n >= 1) t.proto = buf[p];
        else if (pt === CTA_PROTO.SRC_PORT && n >= 2) t.srcPort = buf.readUInt16BE(p);
        else if (pt === CTA_PROTO.DST_PORT && n >= 2) t.dstPort = buf.readUInt16BE(p);
        x = next(x, l);
      }
    }
    o = next(o, len);
  }
  return t;
}

function tupleOf(t: RawTuple, what: string): ConntrackTuple {
  if (t.src === null || t.dst === null) throw new ConntrackParseError(`${what} tuple without addresses`);
  return { src: t.src, dst: t.dst, srcPort: t.srcPort, dstPort: t.dstPort };
}

export interface ParsedConntrack {
  entries: ConntrackEntry[];
  /** Messages that were NEW events (NLM_F_CREATE), in order: entries seen being created. */
  created: ConntrackEntry[];
}

/**
 * The TCP entries in a run of ctnetlink messages (a dump's replies or queued events), tagged with
 * `netns`. Entries of other protocols are skipped; so are messages of other types. Pure.
 */
export function parseConntrack(buf: Buffer, netns: string | null = null): ParsedConntrack {
  const out: ParsedConntrack = { entries: [], created: [] };
  parseMessages(buf, 0, Infinity, netns, out);
  return out;
}

/** Messages parsed per turn of the event loop by parseConntrackInSlices: about 5-10 ms each. */
const SLICE_MESSAGES = 2000;

/**
 * parseConntrack with a turn of the event loop every `slice` messages: a NAT gateway's 100k
 * entries took 0.2-0.4 s of the main thread in one piece (a synthetic 100k-entry dump; the
 * longest block is now 8-23 ms), and every request that came meanwhile waited for all of it.
 */
export async function parseConntrackInSlices(buf: Buffer, netns: string | null = null, slice = SLICE_MESSAGES): Promise<ParsedConntrack> {
  const out: ParsedConntrack = { entries: [], created: [] };
  for (let o = 0; o < buf.length;) {
    o = parseMessages(buf, o, slice, netns, out);
    if (o < buf.length) await new Promise<void>((r) => setImmediate(r));
  }
  return out;
}

/** Parses up to `max` messages from byte `o` into `out`; returns where it stopped (buf.length at the end). */
function parseMessages(buf: Buffer, o: number, max: number, netns: string | null, out: ParsedConntrack): number {
  for (let n = 0; n < max && o + NLMSG_HDRLEN <= buf.length; n++) {
    const len = buf.readUInt32LE(o);
    if (len < NLMSG_HDRLEN || o + len > buf.length) throw new ConntrackParseError(`message at byte ${o} has length ${len}, past the buffer (${buf.length})`);
    const type = buf.readUInt16LE(o + 4);
    const flags = buf.readUInt16LE(o + 6);
    if (type === CT_NEW && len >= NLMSG_HDRLEN + NFGENMSG_LEN) {
      const e = parseEntry(buf, o + NLMSG_HDRLEN + NFGENMSG_LEN, o + len, buf[o + NLMSG_HDRLEN], netns);
      if (e) {
        out.entries.push(e);
        if (flags & NLM_F_CREATE) out.created.push(e);
      }
    }
    o += (len + 3) & ~3;
  }
  if (o + NLMSG_HDRLEN > buf.length) {
    if (o < buf.length && buf.length - o >= 4) throw new ConntrackParseError(`${buf.length - o} trailing bytes`);
    return buf.length;
  }
  return o;
}

function parseEntry(buf: Buffer, s: number, e: number, family: number, netns: string | null): ConntrackEntry | null {
  let orig: RawTuple | null = null, reply: RawTuple | null = null;
  let status = 0, id: number | null = null, zone = 0;
  let tcpState: ConntrackEntry['tcpState'] = null, flagsOriginal: number | null = null, flagsReply: number | null = null;
  for (let o = s; o + 4 <= e;) {
    const len = attrLen(buf, o, e);
    const type = typeAt(buf, o), a = o + 4, b = o + len;
    if (type === CTA.TUPLE_ORIG) orig = parseTuple(buf, a, b);
    else if (type === CTA.TUPLE_REPLY) reply = parseTuple(buf, a, b);
    else if (type === CTA.STATUS && b - a >= 4) status = buf.readUInt32BE(a);
    else if (type === CTA.ID && b - a >= 4) id = buf.readUInt32BE(a);
    else if (type === CTA.ZONE && b - a >= 2) zone = buf.readUInt16BE(a);
    else if (type === CTA.PROTOINFO) {
      for (let x = a; x + 4 <= b;) {
        const l = attrLen(buf, x, b);
        if (typeAt(buf, x) === CTA_PROTOINFO_TCP) {
          for (let y = x + 4; y + 4 <= x + l;) {
            const m = attrLen(buf, y, x + l);
            const tt = typeAt(buf, y), p = y + 4;
            if (m > 4) {
              if (tt === CTA_PROTOINFO_TCP_.STATE) tcpState = CONNTRACK_TCP_STATES[buf[p]] ?? null;
              else if (tt === CTA_PROTOINFO_TCP_.FLAGS_ORIGINAL) flagsOriginal = buf[p];
              else if (tt === CTA_PROTOINFO_TCP_.FLAGS_REPLY) flagsReply = buf[p];
            }
            y = next(y, m);
          }
        }
        x = next(x, l);
      }
    }
    o = next(o, len);
  }
  if (!orig || !reply) throw new ConntrackParseError('entry without both tuples');
  const ot: RawTuple = orig, rt: RawTuple = reply;
  if (ot.proto !== IPPROTO_TCP) return null;
  return {
    family: family === 10 ? 'IPV6' : 'IPV4',
    original: tupleOf(ot, 'original'),
    reply: tupleOf(rt, 'reply'),
    status, tcpState, flagsOriginal, flagsReply, id, zone, netns,
    seenCreatedFromSyn: false,
  };
}

/** A namespace to read: its nsfs id, and how to enter it (null path: the caller's own). */
export interface ConntrackTarget {
  netns: string | null;
  path: string | null;
  inode?: number;
}

/** What the addon's conntrack functions return per target (native/sockdiag/conntrack.cc). */
export type ConntrackRawResult =
  | { messages: Buffer; count?: number; error?: undefined }
  | { error: { code: string; errno: number; syscall: string; message: string }; vanished: boolean };

export interface ConntrackBinding {
  conntrackDump(targets: { path?: string | null; inode?: number }[]): Promise<ConntrackRawResult[]>;
  conntrackSubscribe(target?: { path?: string | null; inode?: number }): Promise<{ fd: number; error?: undefined } | { error: { code: string; message: string }; vanished: boolean }>;
  conntrackDrain(fd: number): Promise<ConntrackRawResult & { overflowed?: boolean }>;
}

function why(code: string, message: string): string {
  if (code === 'EPERM') return `reading conntrack needs CAP_NET_ADMIN in the namespace (${message})`;
  if (code === 'EOPNOTSUPP' || code === 'EPROTONOSUPPORT' || code === 'EINVAL') return `nf_conntrack_netlink is not available in this kernel (${message})`;
  return message;
}

/** Every target read in one addon call and parsed; a namespace that failed is a status, not a throw. */
export async function readConntrack(binding: ConntrackBinding, targets: readonly ConntrackTarget[]): Promise<{ entries: ConntrackEntry[]; namespaces: ConntrackNamespaceStatus[] }> {
  const raw = targets.length === 0 ? [] : await binding.conntrackDump(targets.map((t) => ({ path: t.path, inode: t.inode })));
  const entries: ConntrackEntry[] = [];
  const namespaces: ConntrackNamespaceStatus[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const t = targets[i];
    if (r.error !== undefined) {
      if (r.vanished) continue;
      namespaces.push({ netns: t.netns, available: false, code: r.error.code, reason: why(r.error.code, r.error.message), entries: 0, events: false });
      continue;
    }
    try {
      const parsed = await parseConntrackInSlices(r.messages, t.netns);
      for (const e of parsed.entries) entries.push(e);
      namespaces.push({ netns: t.netns, available: true, code: null, reason: null, entries: parsed.entries.length, events: false });
    } catch (e) {
      namespaces.push({ netns: t.netns, available: false, code: 'EPROTO', reason: (e as Error).message, entries: 0, events: false });
    }
  }
  return { entries, namespaces };
}

const tupleKey = (t: ConntrackTuple): string => `${t.src}|${t.srcPort}|${t.dst}|${t.dstPort}`;

/** Where an entry was seen created, kept while the entry lives: namespace, zone and both tuples. */
function createdKey(e: ConntrackEntry): string {
  return `${e.netns ?? ''}#${e.zone}#${e.id ?? ''}#${tupleKey(e.original)}#${tupleKey(e.reply)}`;
}

/**
 * Reads conntrack per namespace, and keeps a NEW-event subscription per namespace that tracks
 * anything (its last dump held entries) so entries made from a SYN while tcpdir runs are known as
 * such. Events are drained (never waited for) at each read, before the dump: an entry reported
 * created is in the dump that follows unless it died meanwhile. Lost events (ENOBUFS) are counted; their entries are judged from the dump.
 */
export class ConntrackReader {
  private readonly subs = new Map<string, { fd: number; key: string } | { failed: string }>();
  private readonly created = new Set<string>();
  /** Namespaces whose last dump held entries: only those get a NEW-event subscription (one descriptor each). */
  private readonly tracking = new Set<string>();
  private lost = 0;
  private closed = false;
  /** The read in progress: close() waits for it before closing descriptors it may be draining. */
  private running: Promise<unknown> | null = null;

  private constructor(private readonly binding: ConntrackBinding | null, private readonly unavailable: { code: string; reason: string } | null, private readonly events: boolean) {}

  /** A reader over the sock_diag addon (which carries the ctnetlink functions). Never throws. */
  static open(opts: { nativeDir?: string; events?: boolean; enabled?: boolean } = {}): ConntrackReader {
    if (opts.enabled === false) return new ConntrackReader(null, { code: 'DISABLED', reason: 'conntrack evidence is turned off' }, false);
    try {
      const b = loadSockDiag(opts.nativeDir) as unknown as Partial<ConntrackBinding>;
      if (typeof b.conntrackDump !== 'function') return new ConntrackReader(null, { code: 'NATIVE_UNAVAILABLE', reason: 'the sock_diag addon predates conntrack: rebuild it (npm rebuild)' }, false);
      return new ConntrackReader(b as ConntrackBinding, null, opts.events !== false);
    } catch (e) {
      return new ConntrackReader(null, { code: 'NATIVE_UNAVAILABLE', reason: (e as Error).message }, false);
    }
  }

  /** A reader over a given binding (tests). */
  static withBinding(binding: ConntrackBinding, events = true): ConntrackReader {
    return new ConntrackReader(binding, null, events);
  }

  /** Never rejects: a failure of the reader itself is an unavailable status, and the snapshot goes on. */
  read(targets: readonly ConntrackTarget[]): Promise<ConntrackEvidence> {
    const run = this.readNow(targets).catch((e: unknown): ConntrackEvidence => ({
      available: false, code: 'EREAD', reason: `reading conntrack failed: ${e instanceof Error ? e.message : String(e)}`, entries: [], namespaces: [], lostEvents: this.lost,
    }));
    const tracked: Promise<unknown> = run.finally(() => {
      if (this.running === tracked) this.running = null;
    });
    this.running = tracked;
    return run;
  }

  private async readNow(targets: readonly ConntrackTarget[]): Promise<ConntrackEvidence> {
    if (!this.binding || this.closed) {
      const u = this.unavailable ?? { code: 'CLOSED', reason: 'the conntrack reader was closed' };
      return { available: false, code: u.code, reason: u.reason, entries: [], namespaces: [], lostEvents: 0 };
    }
    const eventsOn = this.events ? await this.drainEvents(targets) : new Set<string | null>();
    const { entries, namespaces } = await readConntrack(this.binding, targets);
    this.tracking.clear();
    for (const ns of namespaces) if (ns.entries > 0) this.tracking.add(ns.netns ?? '');
    const live = new Set<string>();
    for (const e of entries) {
      const k = createdKey(e);
      if (this.created.has(k)) {
        e.seenCreatedFromSyn = true;
        live.add(k);
      }
    }
    // Forget entries that died: their tuples may be reused by a connection tcpdir did not see made.
    for (const k of this.created) if (!live.has(k)) this.created.delete(k);
    for (const ns of namespaces) ns.events = ns.available && eventsOn.has(ns.netns);
    const ok = namespaces.filter((n) => n.available);
    const first = namespaces.find((n) => !n.available);
    return {
      available: ok.length > 0,
      code: ok.length > 0 ? null : (first?.code ?? 'NO_NAMESPACE'),
      reason: ok.length > 0 ? null : (first?.reason ?? 'no namespace to read'),
      entries,
      namespaces,
      lostEvents: this.lost,
    };
  }

  /** Subscribes new namespaces, drains every subscription; returns the namespaces with events on. */
  private async drainEvents(targets: readonly ConntrackTarget[]): Promise<Set<string | null>> {
    const b = this.binding!;
    const on = new Set<string | null>();
    if (this.closed) return on;
    const wanted = new Set(targets.map((t) => t.netns ?? ''));
    for (const [k, s] of this.subs) {
      if (wanted.has(k)) continue;
      if ('fd' in s) closeSync(s.fd);
      this.subs.delete(k);
    }
    await Promise.all(targets.map(async (t) => {
      const k = t.netns ?? '';
      let s = this.subs.get(k);
      if (!s) {
        // A namespace where nothing uses conntrack has no entries to mark: no descriptor for it.
        if (!this.tracking.has(k)) return;
        const r = await b.conntrackSubscribe({ path: t.path, inode: t.inode });
        s = r.error === undefined ? { fd: r.fd, key: k } : { failed: r.error.code };
        this.subs.set(k, s);
        if ('fd' in s) on.add(t.netns);
        return; // nothing queued yet
      }
      if (!('fd' in s)) return;
      const r = await b.conntrackDrain(s.fd);
      if (r.error !== undefined) return;
      on.add(t.netns);
      if (r.overflowed) this.lost++;
      try {
        for (const e of parseConntrack(r.messages, t.netns).created) {
          if (e.tcpState === 'SYN_SENT') this.created.add(createdKey(e));
        }
      } catch {
        this.lost++;
      }
    }));
    return on;
  }

  /**
   * Stops reading. Descriptors are closed once a read in progress is done with them: closing one
   * under a drain would let the kernel hand its number to a new socket, which the drain would read.
   */
  close(): void {
    this.closed = true;
    const closeAll = () => {
      for (const s of this.subs.values()) if ('fd' in s) closeSync(s.fd);
      this.subs.clear();
    };
    if (this.running) void this.running.catch(() => undefined).then(closeAll);
    else closeAll();
  }
}
