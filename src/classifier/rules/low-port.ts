import type { Rule } from '../rule';

// Ports below 1024 are where privileged services listen. Weak: NFS, rsh and other clients bind
// low source ports on purpose.
export const LOW_PORT_WEIGHT = 0.7;

export const lowPort: Rule = {
  name: 'low-local-port',
  favors: 'INBOUND',
  weight: LOW_PORT_WEIGHT,
  why: 'Local port below 1024, where privileged services listen; weak because NFS-style clients bind low ports.',
  score(conn) {
    return conn.localPort !== 0 && conn.localPort < 1024 ? LOW_PORT_WEIGHT : 0;
  },
  detail(conn) {
    return `local port ${conn.localPort} is below 1024`;
  },
};
