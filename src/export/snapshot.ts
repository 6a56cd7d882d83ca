import { Gauge, Histogram, type Registry } from 'prom-client';
import { DIRECTIONS, TCP_STATE_NAMES, type Direction } from '../model';
import type { SnapshotView, TcpdirService } from '../service';
import { topListeners, type ListenerCount } from './top-listeners';


export interface SnapshotMetricsOptions {
  /** Busiest listeners exported with their inbound connection counts (0 = none). */
  topListeners: number;
  /** Connections by namespace too: one series per namespace and direction, so off by default. */
  perNetns: boolean;
}

/** What one view contributes to the gauges; computed once per view, at the first scrape of it. */
interface ViewCounts {
  states: Map<string, number>;
  /** direction -> [uncertain, certain] counts */
  connections: Record<Direction, [number, number]>;
  netns: Map<string, Map<Direction, number>> | null;
  listeners: ListenerCount[];
}

// A scrape at 100k sockets must stay within tens of milliseconds: plain counters indexed by
// constant keys here, no per-connection strings.
export function viewCounts(view: SnapshotView, opts: SnapshotMetricsOptions): ViewCounts {
  const states = new Map<string, number>();
  for (const s of view.snapshot.sockets) states.set(s.state, (states.get(s.state) ?? 0) + 1);
  const connections: Record<Direction, [number, number]> = { INBOUND: [0, 0], OUTBOUND: [0, 0], UNKNOWN: [0, 0] };
  const netns = opts.perNetns ? new Map<string, Map<Direction, number>>() : null;
  const { conns } = view.ctx;
  const v = view.verdicts;
  for (let i = 0; i < conns.length; i++) {
    const d = v.direction(i);
    connections[d][v.certain(i) ? 1 : 0]++;
    if (netns) {
      const ns = conns[i].netns ?? view.snapshot.host.netns ?? 'unknown';
      let m = netns.get(ns);
      if (!m) netns.set(ns, (m = new Map()));
      m.set(d, (m.get(d) ?? 0) + 1);
    }
  }
  return { states, connections, netns, listeners: topListeners(view, opts.topListeners) };
}

/**
 * Gauges read from the newest snapshot view at scrape time (the /metrics route first asks the
 * service for a current one), and the snapshot duration histogram fed by every snapshot.
 * Every gauge is rebuilt from the view, so series of things gone (a listener that left the
 * top N, a namespace deleted) disappear with them.
 */
export function snapshotMetrics(registry: Registry, service: TcpdirService, opts: SnapshotMetricsOptions): void {
  let latest: SnapshotView | null = null;
  const cache = new WeakMap<SnapshotView, ViewCounts>();
  const counts = (): ViewCounts | null => {
    if (!latest) return null;
    let c = cache.get(latest);
    if (!c) cache.set(latest, (c = viewCounts(latest, opts)));
    return c;
  };
  const duration = new Histogram({
    name: 'tcpdir_snapshot_duration_seconds',
    help: 'Time to collect and classify one snapshot.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  service.onSnapshot(({ view, durationMs }) => {
    latest = view;
    duration.observe(durationMs / 1000);
  });

  new Gauge({
    name: 'tcpdir_snapshot_age_seconds',
    help: 'Age of the snapshot the other tcpdir gauges were read from, at scrape time.',
    registers: [registry],
    collect() {
      this.reset();
      if (latest) this.set(Math.max(0, Date.now() - latest.snapshot.collectedAt) / 1000);
    },
  });
  new Gauge({
    name: 'tcpdir_sockets',
    help: 'Sockets in the last snapshot, by TCP state (listeners included).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const c = counts();
      if (!c) return;
      for (const state of TCP_STATE_NAMES) this.set({ state }, c.states.get(state) ?? 0);
    },
  });
  new Gauge({
    name: 'tcpdir_connections',
    help: 'Connections in the last snapshot, by verdict direction; certain="true" when kernel evidence or a local peer settled it.',
    labelNames: ['direction', 'certain'],
    registers: [registry],
    collect() {
      const c = counts();
      if (!c) return;
      for (const direction of DIRECTIONS) {
        const [uncertain, certain] = c.connections[direction];
        this.set({ direction, certain: 'true' }, certain);
        this.set({ direction, certain: 'false' }, uncertain);
      }
    },
  });
  new Gauge({
    name: 'tcpdir_netns',
    help: 'Network namespaces in the last snapshot by how their sockets were read: read="now" (walked for it), "kept" (the kernel counted no TCP change since an earlier walk, which served), "not" (could not be read).',
    labelNames: ['read'],
    registers: [registry],
    collect() {
      const snap = latest?.snapshot;
      if (!snap) return;
      let now = 0, kept = 0, not = 0;
      for (const ns of snap.namespaces ?? [{ readAt: snap.collectedAt }]) {
        if (ns.readAt === undefined) not++;
        else if (ns.readAt < snap.collectedAt) kept++;
        else now++;
      }
      this.set({ read: 'now' }, now);
      this.set({ read: 'kept' }, kept);
      this.set({ read: 'not' }, not);
    },
  });
  new Gauge({
    name: 'tcpdir_conntrack_entries',
    help: "TCP conntrack entries read in the last snapshot (every namespace read); absent when conntrack could not be read (see tcpdir_conntrack_unavailable).",
    registers: [registry],
    collect() {
      this.reset();
      const ct = latest?.snapshot.conntrack;
      if (ct?.available) this.set(ct.entries.length);
    },
  });
  new Gauge({
    name: 'tcpdir_conntrack_unavailable',
    help: "Present (value 1) when no namespace's conntrack table could be read in the last snapshot; the code label says why (EPERM: no CAP_NET_ADMIN, NATIVE_UNAVAILABLE, DISABLED, ...).",
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      const ct = latest?.snapshot.conntrack;
      if (ct && !ct.available) this.set({ code: ct.code ?? 'UNKNOWN' }, 1);
    },
  });
  if (opts.perNetns) {
    new Gauge({
      name: 'tcpdir_netns_connections',
      help: 'Connections in the last snapshot, by network namespace (nsfs id) and verdict direction.',
      labelNames: ['netns', 'direction'],
      registers: [registry],
      collect() {
        const c = counts();
        if (!c?.netns) return;
        this.reset();
        for (const [netns, m] of c.netns) for (const direction of DIRECTIONS) this.set({ netns, direction }, m.get(direction) ?? 0);
      },
    });
  }
  if (opts.topListeners > 0) {
    new Gauge({
      name: 'tcpdir_listener_connections',
      help: `Inbound connections of the ${opts.topListeners} busiest listeners in the last snapshot, by listening address and port.`,
      labelNames: ['address', 'port'],
      registers: [registry],
      collect() {
        const c = counts();
        if (!c) return;
        this.reset();
        for (const l of c.listeners) this.set({ address: l.address, port: String(l.port) }, l.connections);
      },
    });
  }
}
