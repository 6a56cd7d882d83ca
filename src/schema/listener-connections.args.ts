import { ArgsType, Field, Float, Int } from 'type-graphql';
import { MAX_LIMIT } from '../model';
import { Direction } from './direction.enum';

@ArgsType()
export class ListenerConnectionsArgs {
  @Field(() => Direction, { nullable: true, description: 'Only connections with this verdict direction.' })
  direction?: Direction;

  @Field(() => Float, { nullable: true, description: 'Keeps verdicts with confidence >= this (0 to 1).' })
  minConfidence?: number;

  @Field(() => Int, { nullable: true, description: `At most ${MAX_LIMIT}; default every connection (within the request's row budget).` })
  limit?: number | null;

  @Field(() => Int, { nullable: true, defaultValue: 0, description: 'Connections to skip first.' })
  offset?: number | null;
}
