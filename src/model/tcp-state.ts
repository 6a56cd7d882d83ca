/** TCP states with the kernel's numbering (include/net/tcp_states.h). */
export const TCP_STATES = [
  '', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE',
  'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV',
] as const;

export type TcpStateName = Exclude<(typeof TCP_STATES)[number], ''>;

/** Every state's name (the schema's and REST's enums are built from this list). */
export const TCP_STATE_NAMES: readonly TcpStateName[] = TCP_STATES.filter((s): s is TcpStateName => s !== '');

export const TcpStateCode = {
  ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, TIME_WAIT: 6, CLOSE: 7,
  CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10, CLOSING: 11, NEW_SYN_RECV: 12,
} as const satisfies Record<TcpStateName, number>;

export function stateName(code: number): TcpStateName {
  const name = TCP_STATES[code];
  if (!name) throw new RangeError(`unknown TCP state ${code}`);
  return name;
}
