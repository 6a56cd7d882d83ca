import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { PeerEvidence, PeerFinding, PeerStatus, PeerVerdict } from '../model';

// Peer agents: tcpdir on the host at the other end of a connection. The other end's verdict is
// asked with the GraphQL verdict query, endpoints swapped (the peer's local end is our remote),
// many per request as aliased fields. Reading (HTTP) is kept apart from parsing (pure).

/** One connection to ask its peer agent about, as this side sees it. */
export interface PeerAsk {
  socketId: string;
  /** Base URL of the agent to ask. */
  peer: string;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** Marks a request as one agent asking another: it is answered from local evidence only (no asking back). */
export const PEER_REQUEST_HEADER = 'x-tcpdir-peer';

/** Verdicts per request: each alias costs ~6 in the server's cost limit (5000). */
export const PEER_BATCH = 100;

const DIRECTIONS = new Set(['INBOUND', 'OUTBOUND', 'UNKNOWN']);

export class PeerAnswerError extends Error {}

/** `::ffff:10.0.0.2` -> `10.0.0.2`, `[fd00::2]` -> `fd00::2`: one text per address for matching. */
export function plainAddress(a: string): string {
  const s = a.replace(/^\[|\]$/g, '').toLowerCase();
  return s.startsWith('::ffff:') && isIP(s.slice(7)) === 4 ? s.slice(7) : s;
}

/** A `--peers` entry naming agents by a DNS name: each address it resolves to is one agent. */
export interface PeerName {
  /** The entry as given, for messages. */
  entry: string;
  hostname: string;
  /** The agent's base URL at one resolved address. */
  urlFor(address: string): string;
}

export interface PeerList {
  /** address -> base URL, from entries with an IP address or ADDRESS=URL */
  fixed: Map<string, string>;
  /** Entries whose host is a name, resolved at run time (a headless Service names every agent). */
  names: PeerName[];
}

/**
 * `--peers` entries: `http://10.0.0.2:4000` (asked for connections whose remote address is the
 * URL's host), `10.0.0.2=http://agent-b:4000` (an explicit address), or `http://agents.ns.svc:4000`
 * (a DNS name: every address it resolves to, A and AAAA, is an agent on that port). Throws with
 * the entry at fault.
 */
export function parsePeers(entries: readonly string[]): PeerList {
  const fixed = new Map<string, string>();
  const names: PeerName[] = [];
  for (const raw of entries.map((e) => e.trim()).filter((e) => e !== '')) {
    const eq = raw.indexOf('=');
    const explicit = eq > 0 && !raw.slice(0, eq).includes('/') ? raw.slice(0, eq) : null;
    const urlText = explicit === null ? raw : raw.slice(eq + 1);
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      throw new Error(`peer ${JSON.stringify(raw)}: not a URL (expected e.g. http://10.0.0.2:4000)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`peer ${JSON.stringify(raw)}: only http and https URLs`);
    const base = url.pathname.replace(/\/$/, '');
    if (explicit === null && isIP(plainAddress(url.hostname)) === 0) {
      const port = url.port ? `:${url.port}` : '';
      names.push({ entry: raw, hostname: url.hostname, urlFor: (a) => `${url.protocol}//${isIP(a) === 6 ? `[${a}]` : a}${port}${base}` });
      continue;
    }
    const address = plainAddress(explicit ?? url.hostname);
    if (isIP(address) === 0) throw new Error(`peer ${JSON.stringify(raw)}: ${address} is not an IP address`);
    fixed.set(address, url.origin + base);
  }
  return { fixed, names };
}

/** This network namespace's own addresses: a name that resolves to every agent includes this one. */
function ownAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(plainAddress(i.address));
  return out;
}

/** The batched GraphQL document: `v0: verdict(...) { ... }` per ask, the far side's endpoints first. */
export function peerVerdictQuery(asks: readonly PeerAsk[]): string {
  const fields = asks.map((a, i) =>
    `v${i}: verdict(localAddress: ${JSON.stringify(plainAddress(a.remoteAddress))}, localPort: ${a.remotePort}, ` +
    `remoteAddress: ${JSON.stringify(plainAddress(a.localAddress))}, remotePort: ${a.localPort}) { direction confidence inboundProbability certain }`);
  return `query PeerVerdicts { ${fields.join(' ')} }`;
}

/**
 * A peer's answer to peerVerdictQuery for `n` asks: per ask its verdict, or null when it has no
 * such connection. Throws PeerAnswerError when the answer is not one (errors, wrong shape).
 */
export function parsePeerVerdicts(body: unknown, n: number): (PeerVerdict | null)[] {
  if (typeof body !== 'object' || body === null) throw new PeerAnswerError('the answer is not a JSON object');
  const b = body as { data?: Record<string, unknown> | null; errors?: { message?: string }[] };
  if (!b.data) {
    const why = b.errors?.[0]?.message;
    throw new PeerAnswerError(why ? `it answered with an error: ${why}` : 'the answer has no data');
  }
  const out: (PeerVerdict | null)[] = [];
  for (let i = 0; i < n; i++) {
    const v = b.data[`v${i}`];
    if (v === null || v === undefined) {
      out.push(null);
      continue;
    }
    const r = v as Record<string, unknown>;
    if (typeof r.direction !== 'string' || !DIRECTIONS.has(r.direction) || typeof r.confidence !== 'number'
      || typeof r.inboundProbability !== 'number' || typeof r.certain !== 'boolean') {
      throw new PeerAnswerError(`verdict v${i} is malformed`);
    }
    out.push({ direction: r.direction as PeerVerdict['direction'], confidence: r.confidence, inboundProbability: r.inboundProbability, certain: r.certain });
  }
  return out;
}

/** POSTs one batch to a peer's /graphql within `timeoutMs` (the body read included). */
export async function readPeerVerdicts(peer: string, asks: readonly PeerAsk[], opts: { token?: string; timeoutMs: number }): Promise<(PeerVerdict | null)[]> {
  const headers: Record<string, string> = { 'content-type': 'application/json', [PEER_REQUEST_HEADER]: '1' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: unknown;
  try {
    const res = await fetch(`${peer}/graphql`, {
      method: 'POST', headers, body: JSON.stringify({ query: peerVerdictQuery(asks) }), signal: AbortSignal.timeout(opts.timeoutMs),
    });
    if (res.status === 401) throw new PeerAnswerError('it refused the peer token (401)');
    body = await res.json().catch(() => {
      throw new PeerAnswerError(`HTTP ${res.status}, not JSON`);
    });
  } catch (e) {
    if (e instanceof PeerAnswerError) throw e;
    const err = e as Error & { cause?: { code?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new PeerAnswerError(`no answer within ${opts.timeoutMs} ms`);
    throw new PeerAnswerError(err.cause?.code ?? err.message);
  }
  return parsePeerVerdicts(body, asks.length);
}

export interface PeerAgentsOptions {
  /** `--peers` entries (see parsePeers). */
  peers: readonly string[];
  token?: string;
  /** Longest wait for a peer's answer (default 500 ms). */
  timeoutMs?: number;
  /** How long an uncertain answer is reused (default 1000 ms: about one snapshot). */
  ttlMs?: number;
  /** How long a certain answer is reused (default 60 s: it cannot change for the same connection). */
  certainTtlMs?: number;
  /** After a failure, the peer is not asked again for this long (default 5 s): a dead peer costs no timeout per snapshot. */
  retryAfterMs?: number;
  /** Told when a peer stops answering (with why) and when it answers again (null); also when a peer name cannot be resolved. */
  onStatus?: (peer: string, reason: string | null) => void;
  /** How often names in `peers` are resolved again (default 30 s): agents come and go with nodes. */
  resolveEveryMs?: number;
}

/** The peer agents: which one to ask for an address, and their answers, cached per 4-tuple. */
export class PeerAgents {
  /** Agents by address: the fixed entries, then the addresses names resolved to (not this host's own). */
  byAddress: Map<string, string>;
  private readonly list: PeerList;
  /** Last addresses each name resolved to: kept while a lookup fails (a DNS hiccup is no reason to forget agents). */
  private readonly resolved = new Map<PeerName, string[]>();
  private resolveDue = 0;
  private resolving: Promise<void> | null = null;
  private readonly cache = new Map<string, { finding: PeerFinding; until: number }>();
  private readonly down = new Map<string, { reason: string; until: number }>();
  private readonly timeoutMs: number;
  private readonly lastReason = new Map<string, string | null>();

  constructor(private readonly opts: PeerAgentsOptions) {
    this.list = parsePeers(opts.peers);
    this.byAddress = new Map(this.list.fixed);
    this.timeoutMs = opts.timeoutMs ?? 500;
  }

  /**
   * Resolves the peer names again when due (every resolveEveryMs), waiting at most timeoutMs;
   * a lookup still running after that finishes in the background. Never throws.
   */
  async resolveNames(now = Date.now()): Promise<void> {
    if (this.list.names.length === 0) return;
    if (!this.resolving && now >= this.resolveDue) {
      this.resolveDue = now + (this.opts.resolveEveryMs ?? 30_000);
      this.resolving = this.lookupAll().finally(() => (this.resolving = null));
    }
    if (!this.resolving) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.resolving, new Promise<void>((r) => (timer = setTimeout(r, this.timeoutMs)))]);
    clearTimeout(timer);
  }

  private async lookupAll(): Promise<void> {
    await Promise.all(this.list.names.map(async (n) => {
      try {
        const found = await lookup(n.hostname, { all: true });
        this.resolved.set(n, found.map((f) => plainAddress(f.address)));
        if ((this.lastReason.get(n.entry) ?? null) !== null) this.opts.onStatus?.(n.entry, null);
        this.lastReason.set(n.entry, null);
      } catch (e) {
        const reason = `cannot resolve ${n.hostname}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
        if (this.lastReason.get(n.entry) !== reason) this.opts.onStatus?.(n.entry, reason);
        this.lastReason.set(n.entry, reason);
      }
    }));
    const own = ownAddresses();
    const m = new Map<string, string>();
    for (const n of this.list.names) for (const a of this.resolved.get(n) ?? []) if (!own.has(a)) m.set(a, n.urlFor(a));
    for (const [a, url] of this.list.fixed) m.set(a, url); // an explicit entry wins over a name
    this.byAddress = m;
  }

  /** Base URL of the agent at this remote address, or null. */
  peerFor(remoteAddress: string): string | null {
    // Run for every unsettled connection of every snapshot: the kernel's text is already
    // lower-case RFC 5952, so only an IPv4-mapped address needs rewriting.
    const hit = this.byAddress.get(remoteAddress);
    if (hit !== undefined) return hit;
    return remoteAddress.startsWith('::ffff:') ? (this.byAddress.get(plainAddress(remoteAddress)) ?? null) : null;
  }

  /** Every ask's answer (or a note why none): never throws, and waits at most about timeoutMs. */
  async ask(asks: readonly PeerAsk[], now = Date.now()): Promise<PeerEvidence> {
    for (const [k, c] of this.cache) if (c.until <= now) this.cache.delete(k);
    const bySocket = new Map<string, PeerFinding>();
    const todo = new Map<string, PeerAsk[]>();
    const asked = new Map<string, number>();
    for (const a of asks) {
      asked.set(a.peer, (asked.get(a.peer) ?? 0) + 1);
      const hit = this.cache.get(keyOf(a));
      if (hit) bySocket.set(a.socketId, hit.finding);
      else push(todo, a.peer, a);
    }
    const failed = new Map<string, string>();
    const batches: Promise<void>[] = [];
    for (const [peer, list] of todo) {
      const d = this.down.get(peer);
      if (d && d.until > now) {
        failed.set(peer, d.reason);
        continue;
      }
      for (let i = 0; i < list.length; i += PEER_BATCH) {
        const batch = list.slice(i, i + PEER_BATCH);
        batches.push(readPeerVerdicts(peer, batch, { token: this.opts.token, timeoutMs: this.timeoutMs }).then((vs) => {
          const at = Date.now();
          batch.forEach((a, j) => {
            const v = vs[j];
            const finding: PeerFinding = { peer, verdict: v, note: v ? null : `the agent at ${peer} has no connection ${a.remoteAddress}:${a.remotePort} -> ${a.localAddress}:${a.localPort} (closed, or an address translated between)` };
            bySocket.set(a.socketId, finding);
            this.cache.set(keyOf(a), { finding, until: at + (v?.certain ? (this.opts.certainTtlMs ?? 60_000) : (this.opts.ttlMs ?? 1000)) });
          });
        }, (e: Error) => {
          failed.set(peer, e.message);
          this.down.set(peer, { reason: e.message, until: Date.now() + (this.opts.retryAfterMs ?? 5000) });
        }));
      }
    }
    await Promise.all(batches);
    for (const [peer, reason] of failed) {
      for (const a of todo.get(peer) ?? []) {
        if (!bySocket.has(a.socketId)) bySocket.set(a.socketId, { peer, verdict: null, note: `peer agent ${peer} unreachable: ${reason}` });
      }
    }
    for (const peer of todo.keys()) {
      const reason = failed.get(peer) ?? null;
      if ((this.lastReason.get(peer) ?? null) !== reason) this.opts.onStatus?.(peer, reason);
      this.lastReason.set(peer, reason);
    }
    const peers: PeerStatus[] = [...asked].map(([url, n]) => ({ url, asked: n, reachable: !failed.has(url), reason: failed.get(url) ?? null }));
    return { bySocket, peers };
  }
}

const keyOf = (a: PeerAsk): string => `${a.peer}|${a.socketId}|${a.localAddress}|${a.localPort}|${a.remoteAddress}|${a.remotePort}`;

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}
