import type { Rule } from '../rule';
import { acceptQueue } from './accept-queue';
import { conntrack } from './conntrack';
import { ephemeralRange } from './ephemeral-range';
import { handshakeState } from './handshake-state';
import { listener } from './listener';
import { listenerProcess } from './listener-process';
import { lowPort } from './low-port';
import { pastListener } from './past-listener';
import { remotePort } from './remote-port';
import { seenHandshake } from './seen-handshake';
import { sharedEndpoint } from './shared-endpoint';

/** Rules that look at one connection alone, strongest first (the order evidence is listed in). */
export const SOCKET_RULES: readonly Rule[] = [
  handshakeState,
  seenHandshake,
  conntrack,
  acceptQueue,
  listener,
  pastListener,
  listenerProcess,
  sharedEndpoint,
  ephemeralRange,
  lowPort,
  remotePort,
];

/** Rules that only read port numbers: what a pair whose listener is gone rests on (listener-gone). */
export const PORT_HINT_RULES: readonly Rule[] = [ephemeralRange, lowPort, remotePort];

export { remotePort };
