import { formatEndpoint, type ProcessRef, type Socket } from '../../model';
import { findListener, type Context } from '../context';
import type { Rule } from '../rule';

// When processes are known: the process holding the connection also holds the listener that
// covers its local endpoint. Servers hold both (or pass the child to a worker that shares the
// listener); a client that happened to reuse a listening port would rarely be that very server.
export const LISTENER_PROCESS_WEIGHT = 1.5;

function sharedOwner(conn: Socket, ctx: Context): { p: ProcessRef; l: Socket } | null {
  const procs = ctx.snapshot.processes;
  if (!procs || conn.inode === 0) return null;
  const mine = procs.get(conn.inode);
  if (!mine || mine.length === 0) return null;
  const l = findListener(ctx, conn);
  const theirs = l && l.inode !== 0 ? procs.get(l.inode) : undefined;
  if (!l || !theirs) return null;
  const p = mine.find((x) => theirs.some((q) => q.pid === x.pid));
  return p ? { p, l } : null;
}

export const listenerProcess: Rule = {
  name: 'listener-process',
  favors: 'INBOUND',
  weight: LISTENER_PROCESS_WEIGHT,
  why: 'The process holding this connection also holds the listener on its local port (only when processes are collected).',
  score(conn, ctx) {
    return sharedOwner(conn, ctx) ? LISTENER_PROCESS_WEIGHT : 0;
  },
  detail(conn, ctx) {
    const { p, l } = sharedOwner(conn, ctx)!;
    return `${p.command} (pid ${p.pid}) holds both this connection and listener ${formatEndpoint(l.localAddress, l.localPort)}`;
  },
};
