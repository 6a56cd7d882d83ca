import type { Rule } from '../rule';
import { acceptQueue } from './accept-queue';
import { conntrack } from './conntrack';
import { ephemeralRange } from './ephemeral-range';
import { handshakeState } from './handshake-state';
import { listener } from './listener';
import { listenerProcess } from './listener-process';
import { lowPort } from './low-port';
import { pastListener } from './past-listener';
import { peerAgent } from './peer-agent';
import { remotePort } from './remote-port';
import { seenHandshake } from './seen-handshake';
import { sharedEndpoint } from './shared-endpoint';
import { synAckedRule } from './syn-acked';
import { unseenListener } from './unseen-listener';

/** Rules that look at one connection alone, strongest first (the order evidence is listed in). */
export const SOCKET_RULES: readonly Rule[] = [
  handshakeState,
  seenHandshake,
  conntrack,
  peerAgent,
  acceptQueue,
  listener,
  pastListener,
  listenerProcess,
  synAckedRule,
  sharedEndpoint,
  unseenListener,
  ephemeralRange,
  lowPort,
  remotePort,
];

/**
 * Rules that cannot tell a client from the child of a listener tcpdir never saw: port numbers,
 * a shared local endpoint (SO_REUSEADDR clients share one too), and the absence of a listener
 * since start (one may have lived between two snapshots). What the no-listener and
 * listener-gone bounds apply to.
 */
export const PORT_HINT_RULES: readonly Rule[] = [sharedEndpoint, unseenListener, ephemeralRange, lowPort, remotePort];

export { remotePort, synAckedRule };
