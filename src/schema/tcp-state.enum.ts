import { registerEnumType } from 'type-graphql';

export enum TcpState {
  ESTABLISHED = 'ESTABLISHED',
  SYN_SENT = 'SYN_SENT',
  SYN_RECV = 'SYN_RECV',
  FIN_WAIT1 = 'FIN_WAIT1',
  FIN_WAIT2 = 'FIN_WAIT2',
  TIME_WAIT = 'TIME_WAIT',
  CLOSE = 'CLOSE',
  CLOSE_WAIT = 'CLOSE_WAIT',
  LAST_ACK = 'LAST_ACK',
  LISTEN = 'LISTEN',
  CLOSING = 'CLOSING',
  NEW_SYN_RECV = 'NEW_SYN_RECV',
}

registerEnumType(TcpState, { name: 'TcpState', description: 'TCP state as the kernel names it.' });
