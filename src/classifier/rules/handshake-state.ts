import type { Rule } from '../rule';
import { conclusive } from '../rule';

// Only the side that called connect() is ever in SYN_SENT; SYN_RECV and NEW_SYN_RECV (request
// sockets) exist only on the side that received the SYN on a listener. (Simultaneous open would
// break this, but it needs both ends to connect() to each other's exact port at once.)
export const handshakeState: Rule = {
  name: 'handshake-state',
  favors: 'EITHER',
  weight: 'conclusive',
  why: 'SYN_SENT exists only on the connecting side; SYN_RECV/NEW_SYN_RECV only on the listening side.',
  evaluate(conn) {
    if (conn.state === 'SYN_SENT') return conclusive(this.name, 'OUTBOUND', 'the socket is in SYN_SENT: this side sent the SYN');
    if (conn.state === 'SYN_RECV' || conn.state === 'NEW_SYN_RECV') {
      return conclusive(this.name, 'INBOUND', `the socket is in ${conn.state}: this side received the SYN on a listener`);
    }
    return null;
  },
};
