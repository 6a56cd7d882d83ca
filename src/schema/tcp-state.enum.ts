import { registerEnumType } from 'type-graphql';
import { TCP_STATE_NAMES, type TcpStateName } from '../model';
import { enumOf } from './enum-of';

export const TcpState = enumOf(TCP_STATE_NAMES);
export type TcpState = TcpStateName;

registerEnumType(TcpState, { name: 'TcpState', description: 'TCP state as the kernel names it.' });
