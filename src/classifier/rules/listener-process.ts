import { formatEndpoint } from '../../model';
import { findListener } from '../context';
import type { Rule } from '../rule';
import { evidence } from '../rule';

// When processes are known: the process holding the connection also holds the listener that
// covers its local endpoint. Servers hold both (or pass the child to a worker that shares the
// listener); a client that happened to reuse a listening port would rarely be that very server.
export const LISTENER_PROCESS_WEIGHT = 1.5;

export const listenerProcess: Rule = {
  name: 'listener-process',
  favors: 'INBOUND',
  weight: LISTENER_PROCESS_WEIGHT,
  why: 'The process holding this connection also holds the listener on its local port (only when processes are collected).',
  evaluate(conn, ctx) {
    const procs = ctx.snapshot.processes;
    if (!procs || conn.inode === 0) return null;
    const mine = procs.get(conn.inode);
    if (!mine || mine.length === 0) return null;
    const l = findListener(ctx, conn);
    if (!l || l.inode === 0) return null;
    const theirs = procs.get(l.inode);
    if (!theirs) return null;
    const shared = mine.find((p) => theirs.some((q) => q.pid === p.pid));
    if (!shared) return null;
    return evidence(
      this.name,
      'INBOUND',
      LISTENER_PROCESS_WEIGHT,
      `${shared.command} (pid ${shared.pid}) holds both this connection and listener ${formatEndpoint(l.localAddress, l.localPort)}`,
    );
  },
};
