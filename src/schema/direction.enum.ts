import { registerEnumType } from 'type-graphql';
import { DIRECTIONS, type Direction as DirectionName } from '../model';
import { enumOf } from './enum-of';

export const Direction = enumOf(DIRECTIONS);
export type Direction = DirectionName;

registerEnumType(Direction, {
  name: 'Direction',
  description: 'Who opened the connection: a peer connecting to a listener here (INBOUND) or a process here (OUTBOUND).',
});
