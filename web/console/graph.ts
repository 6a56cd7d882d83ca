// The service map's graph, built from flows (history) or from the current snapshot: local services
// (listening ports) and processes on one side, remote peers (addresses, or subnets when there are
// many) on the other; edges carry direction and a count.
export interface Edge { from: string; to: string; direction: 'INBOUND' | 'OUTBOUND' | 'UNKNOWN'; count: number }
export interface Node { id: string; label: string; kind: 'service' | 'process' | 'remote'; filter: Record<string, string> }
export interface Graph { nodes: Node[]; edges: Edge[] }

/** One group of connections: inbound ones name the local port, outbound ones the process. */
export interface Group { direction: string; localPort: number | null; process: string | null; remoteAddress: string; remotePort: number | null; count: number }

/** Above this many distinct peers, IPv4 peers are grouped by /24 and IPv6 ones by /64. */
export const GROUP_ABOVE = 40;
/** Edges drawn at most, busiest first. */
export const MAX_EDGES = 150;

function subnet(address: string): string {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.\d+$/.exec(address);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  const parts = address.split(':');
  return `${parts.slice(0, 4).join(':')}::/64`;
}

/** IPv4-mapped peers (of dual-stack sockets) as plain IPv4: one node per host. */
function plain(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

export function buildGraph(input: Group[], serviceNames: Map<number, string>): Graph {
  const groups = input.map((g) => ({ ...g, remoteAddress: plain(g.remoteAddress) }));
  const peers = new Set(groups.map((g) => g.remoteAddress));
  const peerOf = peers.size > GROUP_ABOVE ? subnet : (a: string) => a;
  const edges = new Map<string, Edge>();
  const nodes = new Map<string, Node>();
  for (const g of groups) {
    const peer = peerOf(g.remoteAddress);
    const remote = `remote:${peer}`;
    nodes.set(remote, { id: remote, label: peer, kind: 'remote', filter: { remote: peer } });
    let local: string;
    if (g.direction === 'INBOUND' && g.localPort !== null) {
      local = `service:${g.localPort}`;
      const name = serviceNames.get(g.localPort);
      nodes.set(local, { id: local, label: name ? `${name} :${g.localPort}` : `:${g.localPort}`, kind: 'service', filter: { port: String(g.localPort), direction: 'inbound' } });
    } else {
      const proc = g.process ?? (g.direction === 'UNKNOWN' ? 'direction unknown' : 'process unknown');
      local = `process:${proc}`;
      nodes.set(local, { id: local, label: proc, kind: 'process', filter: g.process ? { process: g.process, direction: g.direction.toLowerCase() } : { direction: g.direction.toLowerCase() } });
    }
    const direction = (g.direction === 'INBOUND' || g.direction === 'OUTBOUND' ? g.direction : 'UNKNOWN') as Edge['direction'];
    const [from, to] = direction === 'INBOUND' ? [remote, local] : [local, remote];
    const key = `${from}|${to}|${direction}`;
    const e = edges.get(key);
    if (e) e.count += g.count;
    else edges.set(key, { from, to, direction, count: g.count });
  }
  const kept = [...edges.values()].sort((a, b) => b.count - a.count).slice(0, MAX_EDGES);
  const used = new Set(kept.flatMap((e) => [e.from, e.to]));
  return { nodes: [...nodes.values()].filter((n) => used.has(n.id)), edges: kept };
}
