import type { Rule } from '../rule';
import { conclusive } from '../rule';

// A socket keeps its id (the kernel cookie) for life; if an earlier snapshot saw it in a handshake
// state, that direction still holds after it became ESTABLISHED.
export const seenHandshake: Rule = {
  name: 'seen-handshake',
  favors: 'EITHER',
  weight: 'conclusive',
  why: 'An earlier snapshot saw this very socket (same cookie) in SYN_SENT or SYN_RECV.',
  evaluate(conn, ctx) {
    if (conn.cookie === null) return null;
    const seen = ctx.snapshot.history?.handshakes.get(conn.id);
    if (!seen) return null;
    return conclusive(this.name, seen.direction, `an earlier snapshot saw this socket in ${seen.state}`);
  },
};
