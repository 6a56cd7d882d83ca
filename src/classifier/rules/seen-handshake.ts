import type { Rule } from '../rule';

// A socket keeps its id (the kernel cookie) for life; if an earlier snapshot saw it in a handshake
// state, that direction still holds after it became ESTABLISHED.
export const seenHandshake: Rule = {
  name: 'seen-handshake',
  favors: 'EITHER',
  weight: 'conclusive',
  why: 'An earlier snapshot saw this very socket (same cookie) in SYN_SENT or SYN_RECV.',
  score(conn, ctx) {
    const h = ctx.snapshot.history?.handshakes;
    if (!h || h.size === 0 || conn.cookie === null) return 0;
    const seen = h.get(conn.id);
    return seen ? (seen.direction === 'INBOUND' ? Infinity : -Infinity) : 0;
  },
  detail(conn, ctx) {
    return `an earlier snapshot saw this socket in ${ctx.snapshot.history?.handshakes.get(conn.id)?.state}`;
  },
};
