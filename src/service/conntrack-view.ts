import { conntrackMatch, conntrackOrigin, natOf, unjoinedEntries, type Context } from '../classifier';
import { CONNTRACK_SYN_WEIGHT, CONNTRACK_UNKNOWN_ORIGIN_WEIGHT } from '../classifier/rules/conntrack';
import type { ConntrackEntry, Snapshot, Socket } from '../model';
import { netnsIdFor } from './netns-view';
import type { EndpointRecord } from './records';

// conntrack as the API shows it: the status (host and per namespace), a connection's NAT view,
// and the tracked flows no socket here belongs to.

export interface NatRecord {
  originalSource: EndpointRecord;
  originalDestination: EndpointRecord;
  replySource: EndpointRecord;
  replyDestination: EndpointRecord;
}

export interface ConntrackStatusRecord {
  available: boolean;
  code: string | null;
  reason: string | null;
  entries: number;
  events: boolean;
  lostEvents: number;
}

export interface TrackedFlowRecord {
  netns: string | null;
  opener: EndpointRecord;
  destination: EndpointRecord;
  nat: NatRecord | null;
  state: string;
  origin: 'SEEN_CREATED' | 'SYN' | 'MID_STREAM' | 'UNKNOWN';
  openerConfidence: number;
  id: string | null;
}

export interface ConntrackFactsRecord {
  netns: string | null;
  side: 'ORIGINAL' | 'REPLY';
  origin: TrackedFlowRecord['origin'];
  state: string;
  direction: 'INBOUND' | 'OUTBOUND' | 'UNKNOWN';
}

const ORIGINS = { 'seen-created': 'SEEN_CREATED', syn: 'SYN', 'mid-stream': 'MID_STREAM', unknown: 'UNKNOWN' } as const;

/** The conntrack entry joined to the connection, or null when none is. */
export function conntrackFactsOf(ctx: Context, s: Socket): ConntrackFactsRecord | null {
  const m = conntrackMatch(ctx, s);
  if (!m) return null;
  const origin = ORIGINS[conntrackOrigin(m.entry)];
  const own = ctx.snapshot.namespaces?.find((n) => n.self)?.id ?? ctx.snapshot.host.netns;
  return {
    netns: m.entry.netns ?? own,
    side: m.side === 'original' ? 'ORIGINAL' : 'REPLY',
    origin,
    state: m.entry.tcpState ?? 'NONE',
    direction: origin === 'MID_STREAM' ? 'UNKNOWN' : m.side === 'original' ? 'OUTBOUND' : 'INBOUND',
  };
}

const NOT_READ: ConntrackStatusRecord = { available: false, code: 'NOT_READ', reason: 'this snapshot was taken without reading conntrack', entries: 0, events: false, lostEvents: 0 };

/** The NAT view of the connection's conntrack entry; null without an entry or without NAT. */
export function natOfConnection(ctx: Context, s: Socket): NatRecord | null {
  const m = conntrackMatch(ctx, s);
  return m ? natOf(m.entry) : null;
}

/** Host-wide status: every namespace read. */
export function conntrackStatus(snapshot: Snapshot): ConntrackStatusRecord {
  const c = snapshot.conntrack;
  if (!c) return NOT_READ;
  return {
    available: c.available, code: c.code, reason: c.reason, entries: c.entries.length,
    events: c.namespaces.some((n) => n.events), lostEvents: c.lostEvents,
  };
}

/** Status of one namespace's table. */
export function netnsConntrackStatus(snapshot: Snapshot, netns: string): ConntrackStatusRecord {
  const c = snapshot.conntrack;
  if (!c) return NOT_READ;
  const own = snapshot.namespaces?.find((n) => n.self)?.id ?? snapshot.host.netns;
  const ns = c.namespaces.find((n) => (n.netns ?? own) === netns);
  if (!ns) {
    return { available: false, code: c.code ?? 'NOT_READ', reason: c.reason ?? 'its conntrack table was not read', entries: 0, events: false, lostEvents: c.lostEvents };
  }
  return { available: ns.available, code: ns.code, reason: ns.reason, entries: ns.entries, events: ns.events, lostEvents: c.lostEvents };
}

const sigmoid = (x: number): number => Math.round((1 / (1 + Math.exp(-x))) * 1e4) / 1e4;

function flowRecord(e: ConntrackEntry): TrackedFlowRecord {
  const origin = conntrackOrigin(e);
  const o = e.original;
  return {
    netns: e.netns,
    opener: { address: o.src, port: o.srcPort },
    destination: { address: o.dst, port: o.dstPort },
    nat: natOf(e),
    state: e.tcpState ?? 'NONE',
    origin: ORIGINS[origin],
    openerConfidence: origin === 'seen-created' ? 1 : origin === 'syn' ? sigmoid(CONNTRACK_SYN_WEIGHT) : origin === 'unknown' ? sigmoid(CONNTRACK_UNKNOWN_ORIGIN_WEIGHT) : 0.5,
    id: e.id === null ? null : String(e.id),
  };
}

const flowCache = new WeakMap<Context, ConntrackEntry[]>();

/** Tracked flows no socket of the snapshot belongs to, optionally of one namespace (id or name). */
export function trackedFlows(ctx: Context, netns: string | null | undefined, limit: number): TrackedFlowRecord[] {
  let list = flowCache.get(ctx);
  if (!list) flowCache.set(ctx, (list = unjoinedEntries(ctx)));
  const snap = ctx.snapshot;
  const want = netnsIdFor(snap, netns);
  const own = snap.namespaces?.find((n) => n.self)?.id ?? snap.host.netns;
  const out: TrackedFlowRecord[] = [];
  for (const e of list) {
    if (out.length >= limit) break;
    const rec = flowRecord(e);
    rec.netns = e.netns ?? own;
    if (want !== null && rec.netns !== want) continue;
    out.push(rec);
  }
  return out;
}
