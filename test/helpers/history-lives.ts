// Builders of ConnectionLife records for the history store's tests and benchmark.
import type { ConnectionLife } from '../../src/history';

export function life(over: Partial<ConnectionLife> & { key: string }): ConnectionLife {
  return {
    netns: 'net:[4026531840]', family: 'IPV4',
    localAddress: '10.0.0.2', localPort: 443, remoteAddress: '10.1.2.3', remotePort: 50000,
    direction: 'INBOUND', confidence: 0.9, certain: true, rule: 'listener',
    openedAt: 1_000_000, closedAt: null, firstSeenAt: over.openedAt ?? 1_000_000, preExisting: false,
    pid: 100, command: 'nginx', bytesSent: null, bytesReceived: null, retransmits: null, observedBy: 'KERNEL',
    ...over,
  };
}
