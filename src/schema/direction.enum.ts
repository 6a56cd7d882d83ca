import { registerEnumType } from 'type-graphql';
import { DIRECTIONS, type Direction as DirectionName } from '../model';
import { enumOf } from './enum-of';

export const Direction = enumOf(DIRECTIONS);
export type Direction = DirectionName;

registerEnumType(Direction, {
  name: 'Direction',
  description: 'Who opened the connection: a peer connecting to a listener here (INBOUND) or a process here (OUTBOUND).',
  valuesConfig: {
    INBOUND: { description: 'A peer connected to a listener on this host (the socket was accepted).' },
    OUTBOUND: { description: 'A process on this host called connect().' },
    UNKNOWN: { description: 'The evidence does not settle it (or falls below minConfidence).' },
  },
});
