// The classic direction rules other host agents use (the prior art: listener lookup, shared endpoint, ephemeral range, low port), as a
// baseline for bench:accuracy. Only these four rules, first match wins, and everything else is
// called outbound; no tool reports a confidence, so every answer counts as confidence 1.
import { unmapIPv4, type HostFacts, type Socket, type Verdict } from '../src/model';

type Direction = 'INBOUND' | 'OUTBOUND';

function verdict(direction: Direction, rule: string, detail: string): Verdict {
  return {
    direction,
    confidence: 1,
    inboundProbability: direction === 'INBOUND' ? 1 : 0,
    certain: false,
    evidence: [{ rule, favors: direction, weight: 0, detail }],
  };
}

/** Listener on the connection's port with the same address or its family's wildcard (metricbeat, Pixie). */
function listenerMatches(l: Socket, c: Socket): boolean {
  if (l.localPort !== c.localPort || l.family !== c.family) return false;
  return l.localAddress === c.localAddress || l.localAddress === (l.family === 'IPV4' ? '0.0.0.0' : '::');
}

export function classicClassify(snapshot: { sockets: Socket[]; host: HostFacts }): Map<string, Verdict> {
  const listeners = snapshot.sockets.filter((s) => s.state === 'LISTEN');
  const conns = snapshot.sockets.filter((s) => s.state !== 'LISTEN');
  const perEndpoint = new Map<string, number>();
  const ek = (s: Socket) => `${unmapIPv4(s.localAddress)}|${s.localPort}`;
  for (const c of conns) perEndpoint.set(ek(c), (perEndpoint.get(ek(c)) ?? 0) + 1);
  const range = snapshot.host.ephemeralPortRange;
  const out = new Map<string, Verdict>();
  for (const c of conns) {
    let v: Verdict;
    if (listeners.some((l) => listenerMatches(l, c))) {
      v = verdict('INBOUND', 'listener', `a listener covers port ${c.localPort}`);
    } else if ((perEndpoint.get(ek(c)) ?? 0) > 1) {
      v = verdict('INBOUND', 'shared-endpoint', `${perEndpoint.get(ek(c))} connections share the local endpoint`);
    } else if (range && c.localPort >= range.low && c.localPort <= range.high) {
      v = verdict('OUTBOUND', 'ephemeral', `local port in ${range.low}-${range.high}`);
    } else if (c.localPort < 1024) {
      v = verdict('INBOUND', 'low-port', 'local port below 1024');
    } else {
      v = verdict('OUTBOUND', 'default', 'no rule matched');
    }
    out.set(c.id, v);
  }
  return out;
}
