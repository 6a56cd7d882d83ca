import { formatEndpoint } from '../../model';
import { findListener } from '../context';
import type { Rule } from '../rule';

// A connected socket with no inode has no file descriptor yet: an ESTABLISHED (or CLOSE_WAIT)
// child waiting in its listener's accept queue. Sockets a process closed move on to FIN_WAIT or
// LAST_ACK, so these two states with inode 0 and a live listener with a non-empty queue are
// children nobody has accepted yet.
export const acceptQueue: Rule = {
  name: 'accept-queue',
  favors: 'INBOUND',
  weight: 'conclusive',
  why: 'An ESTABLISHED socket with no inode, under a live listener whose accept queue is not empty, is a child waiting to be accepted.',
  score(conn, ctx) {
    if (conn.inode !== 0 || (conn.state !== 'ESTABLISHED' && conn.state !== 'CLOSE_WAIT')) return 0;
    const l = findListener(ctx, conn);
    return l && l.rqueue > 0 ? Infinity : 0;
  },
  detail(conn, ctx) {
    const l = findListener(ctx, conn)!;
    return `not yet accepted: no inode, and listener ${formatEndpoint(l.localAddress, l.localPort)} has ${l.rqueue} connection(s) queued`;
  },
};
