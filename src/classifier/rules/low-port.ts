import type { Rule } from '../rule';
import { evidence } from '../rule';

// Ports below 1024 are where privileged services listen. Weak: NFS, rsh and other clients bind
// low source ports on purpose.
export const LOW_PORT_WEIGHT = 0.7;

export const lowPort: Rule = {
  name: 'low-local-port',
  favors: 'INBOUND',
  weight: LOW_PORT_WEIGHT,
  why: 'Local port below 1024, where privileged services listen; weak because NFS-style clients bind low ports.',
  evaluate(conn) {
    if (conn.localPort === 0 || conn.localPort >= 1024) return null;
    return evidence(this.name, 'INBOUND', LOW_PORT_WEIGHT, `local port ${conn.localPort} is below 1024`);
  },
};
