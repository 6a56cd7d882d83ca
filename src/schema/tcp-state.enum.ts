import { registerEnumType } from 'type-graphql';
import { TCP_STATE_NAMES, type TcpStateName } from '../model';
import { enumOf } from './enum-of';

export const TcpState = enumOf(TCP_STATE_NAMES);
export type TcpState = TcpStateName;

registerEnumType(TcpState, {
  name: 'TcpState',
  description: 'TCP state as the kernel names it.',
  valuesConfig: {
    ESTABLISHED: { description: 'Open both ways.' },
    SYN_SENT: { description: 'connect() sent a SYN; no answer yet.' },
    SYN_RECV: { description: 'A SYN was answered; the final ACK is awaited (Fast Open child sockets).' },
    FIN_WAIT1: { description: 'This end closed; its FIN is not yet acknowledged.' },
    FIN_WAIT2: { description: "This end closed and its FIN was acknowledged; the peer's FIN is awaited." },
    TIME_WAIT: { description: 'Closed by this end first; kept for 2*MSL to absorb late segments (no process holds it).' },
    CLOSE: { description: 'Closed, or not yet connected.' },
    CLOSE_WAIT: { description: 'The peer closed; this end has not yet.' },
    LAST_ACK: { description: 'The peer closed, then this end; its FIN is not yet acknowledged.' },
    LISTEN: { description: 'A listener. Never the state of a connection: see Query.listeners.' },
    CLOSING: { description: 'Both ends closed at once; the FIN is not yet acknowledged.' },
    NEW_SYN_RECV: { description: 'A half-open request on a listener: SYN answered, final ACK awaited.' },
  },
});
