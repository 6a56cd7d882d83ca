import type { Classification } from '../classifier';
import type { Socket } from '../model';

export type ConnectionOrderName = 'DIRECTION' | 'CONFIDENCE' | 'STATE' | 'LOCAL' | 'REMOTE' | 'NETNS';
export interface ConnectionOrdering { by: ConnectionOrderName; descending?: boolean | null }

type Key = (i: number) => Buffer | null;

function text(x: string | null, y: string | null): number {
  const a = x ?? '';
  const b = y ?? '';
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Null keys (no IP text) sort first. */
function bytes(x: Buffer | null, y: Buffer | null): number {
  return x && y ? x.compare(y) : x ? 1 : y ? -1 : 0;
}

/**
 * Compares two rows of a view (indexes into its connections) by one column, ascending.
 * Addresses compare as 16-byte keys (IPv4 as IPv4-mapped), so 10.0.0.9 sorts before 10.0.0.10.
 */
export function orderComparator(by: ConnectionOrderName, conns: readonly Socket[], v: Classification, hostNetns: string | null, localKey: Key, remoteKey: Key): (a: number, b: number) => number {
  switch (by) {
    case 'DIRECTION': return (a, b) => text(v.direction(a), v.direction(b));
    case 'CONFIDENCE': return (a, b) => v.confidence(a) - v.confidence(b);
    case 'STATE': return (a, b) => text(conns[a].state, conns[b].state);
    case 'NETNS': return (a, b) => text(conns[a].netns ?? hostNetns, conns[b].netns ?? hostNetns);
    case 'LOCAL': return (a, b) => bytes(localKey(a), localKey(b)) || conns[a].localPort - conns[b].localPort;
    case 'REMOTE': return (a, b) => bytes(remoteKey(a), remoteKey(b)) || conns[a].remotePort - conns[b].remotePort;
  }
}
