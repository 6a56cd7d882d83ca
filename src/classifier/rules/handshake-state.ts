import type { Rule } from '../rule';

// Only the side that called connect() is ever in SYN_SENT; SYN_RECV and NEW_SYN_RECV (request
// sockets) exist only on the side that received the SYN on a listener. (Simultaneous open would
// break this, but it needs both ends to connect() to each other's exact port at once.)
export const handshakeState: Rule = {
  name: 'handshake-state',
  favors: 'EITHER',
  weight: 'conclusive',
  why: 'SYN_SENT exists only on the connecting side; SYN_RECV/NEW_SYN_RECV only on the listening side.',
  score(conn) {
    if (conn.state === 'SYN_SENT') return -Infinity;
    if (conn.state === 'SYN_RECV' || conn.state === 'NEW_SYN_RECV') return Infinity;
    return 0;
  },
  detail(conn) {
    return conn.state === 'SYN_SENT'
      ? 'the socket is in SYN_SENT: this side sent the SYN'
      : `the socket is in ${conn.state}: this side received the SYN on a listener`;
  },
};
