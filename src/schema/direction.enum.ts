import { registerEnumType } from 'type-graphql';

export enum Direction {
  INBOUND = 'INBOUND',
  OUTBOUND = 'OUTBOUND',
  UNKNOWN = 'UNKNOWN',
}

registerEnumType(Direction, {
  name: 'Direction',
  description: 'Who opened the connection: a peer connecting to a listener here (INBOUND) or a process here (OUTBOUND).',
});
