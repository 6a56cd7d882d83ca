// Text for what the API answers, as the CLI words it.
export interface Endpoint { address: string; port: number }

export function endpoint(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export interface VerdictBrief { direction: string; confidence: number; certain: boolean; inboundProbability?: number }

export function confidenceText(v: VerdictBrief): string {
  if (v.certain) return 'certain';
  if (v.direction === 'UNKNOWN') return v.inboundProbability === undefined ? '-' : `p(in) ${v.inboundProbability.toFixed(2)}`;
  return `${(v.confidence * 100).toFixed(1)}%`;
}

export function processText(ps: { pid: number; command: string }[] | undefined): string {
  if (!ps || ps.length === 0) return '-';
  return `${ps[0].command}/${ps[0].pid}${ps.length > 1 ? `,+${ps.length - 1}` : ''}`;
}

/** The sentence `tcpdir explain` starts with. */
export function explainSentence(local: Endpoint, remote: Endpoint, v: VerdictBrief & { inboundProbability: number }): string {
  const l = endpoint(local);
  const r = endpoint(remote);
  if (v.direction === 'UNKNOWN') return `${l} <-> ${r}: direction UNKNOWN (P(inbound) = ${v.inboundProbability.toFixed(2)}; not enough evidence either way).`;
  return `${l} <-> ${r}: ${v.direction} (${v.certain ? 'certain' : `confidence ${(v.confidence * 100).toFixed(1)}%`}).`;
}

export function timeText(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}
