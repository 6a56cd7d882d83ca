import { Counter, type Registry } from 'prom-client';
import type { Direction } from '../model';

/**
 * The hook a history recorder feeds: it sees connections open and close between snapshots, which
 * a gauge of the last snapshot cannot count. The counters are registered at the first call of
 * connectionEvents(), so a tcpdir without a recorder exports no counters stuck at zero.
 */
export interface ConnectionEventSink {
  /** A connection appeared (handshake done, or first seen), with its verdict's direction. */
  opened(direction: Direction, n?: number): void;
  /** A connection went away (closed, or no longer seen). */
  closed(direction: Direction, n?: number): void;
}

export function connectionEventSink(registry: Registry): ConnectionEventSink {
  const opened = new Counter({
    name: 'tcpdir_connections_opened_total',
    help: 'Connections seen opening, by verdict direction (fed by the history recorder).',
    labelNames: ['direction'],
    registers: [registry],
  });
  const closed = new Counter({
    name: 'tcpdir_connections_closed_total',
    help: 'Connections seen closing, by verdict direction (fed by the history recorder).',
    labelNames: ['direction'],
    registers: [registry],
  });
  return {
    opened: (direction, n = 1) => opened.inc({ direction }, n),
    closed: (direction, n = 1) => closed.inc({ direction }, n),
  };
}
