import { TCP_STATES, TcpStateCode, type TcpStateName } from './tcp-state';

// The kernel's facts about one socket as one small integer, so a table of records keeps a
// uint16 per record instead of an object, and the classifier decides by a table indexed by it:
//   state code << 7 | TIME_WAIT connect-bind (0 not TIME_WAIT or unknown, 1 false, 2 true) << 5
//   | connectBind << 4 | explicitPortBind << 3 | portAllocatedByConnect << 2
//   | sharesListenerPort << 1 | acceptBacklogInherited
// These are facts only; what they mean for the direction is the classifier's (kernel-direction.ts).

/** The record fields the direction rules read. */
export interface KernelFacts {
  state: TcpStateName;
  connectBind: boolean;
  explicitPortBind: boolean;
  portAllocatedByConnect: boolean;
  /** TIME_WAIT only: tw_connect_bind; null when not TIME_WAIT or the kernel lacks the field. */
  twConnectBind: boolean | null;
  sharesListenerPort: boolean;
  acceptBacklogInherited: boolean;
}

/** Packed facts fit below this (state codes are 1..12). */
export const KERNEL_FACTS_SPACE = 13 << 7;

export function packKernelFacts(f: KernelFacts): number {
  const tw = f.twConnectBind === null ? 0 : f.twConnectBind ? 2 : 1;
  return (TcpStateCode[f.state] << 7) | (tw << 5) | (+f.connectBind << 4) | (+f.explicitPortBind << 3) |
    (+f.portAllocatedByConnect << 2) | (+f.sharesListenerPort << 1) | +f.acceptBacklogInherited;
}

export function unpackKernelFacts(key: number): KernelFacts {
  const tw = (key >> 5) & 3;
  return {
    state: TCP_STATES[key >> 7] as TcpStateName,
    twConnectBind: tw === 0 ? null : tw === 2,
    connectBind: (key & 16) !== 0,
    explicitPortBind: (key & 8) !== 0,
    portAllocatedByConnect: (key & 4) !== 0,
    sharesListenerPort: (key & 2) !== 0,
    acceptBacklogInherited: (key & 1) !== 0,
  };
}

/** A state change as one byte: old state << 4 | new state (0: none). */
export function transitionCode(oldState: TcpStateName, newState: TcpStateName): number {
  return (TcpStateCode[oldState] << 4) | TcpStateCode[newState];
}

export function transitionText(code: number): string {
  return `${TCP_STATES[code >> 4]}->${TCP_STATES[code & 15]}`;
}

/**
 * The changes that begin a socket's life, by code: connect() (CLOSE->SYN_SENT, or any change
 * into SYN_SENT), an accepted connection (LISTEN->SYN_RECV on the child, and SYN_RECV->ESTABLISHED,
 * the only one seen when the first was missed). What each means is the classifier's.
 */
export const BIRTH_TRANSITION = (() => {
  const t = new Uint8Array(256);
  for (let o = 1; o < TCP_STATES.length; o++) t[(o << 4) | TcpStateCode.SYN_SENT] = 1;
  t[(TcpStateCode.LISTEN << 4) | TcpStateCode.SYN_RECV] = 1;
  t[(TcpStateCode.SYN_RECV << 4) | TcpStateCode.ESTABLISHED] = 1;
  return t;
})();
