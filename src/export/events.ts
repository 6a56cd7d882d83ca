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
  // Counted in plain numbers and added to the counters when they are read: a labelled inc() per
  // event was 1% of tcpdir's CPU under churn (bench:events, --cpu-prof).
  const pending = { opened: new Map<Direction, number>(), closed: new Map<Direction, number>() };
  const flush = (counter: Counter<'direction'>, counts: Map<Direction, number>): void => {
    for (const [direction, n] of counts) counter.inc({ direction }, n);
    counts.clear();
  };
  const opened: Counter<'direction'> = new Counter({
    name: 'tcpdir_connections_opened_total',
    help: 'Connections seen opening, by verdict direction (fed by the history recorder).',
    labelNames: ['direction'],
    registers: [registry],
    collect: () => flush(opened, pending.opened),
  });
  const closed: Counter<'direction'> = new Counter({
    name: 'tcpdir_connections_closed_total',
    help: 'Connections seen closing, by verdict direction (fed by the history recorder).',
    labelNames: ['direction'],
    registers: [registry],
    collect: () => flush(closed, pending.closed),
  });
  const add = (counts: Map<Direction, number>, direction: Direction, n: number): void => {
    counts.set(direction, (counts.get(direction) ?? 0) + n);
  };
  return {
    opened: (direction, n = 1) => add(pending.opened, direction, n),
    closed: (direction, n = 1) => add(pending.closed, direction, n),
  };
}
