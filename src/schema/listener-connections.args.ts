import { ArgsType, Field, Float, Int } from 'type-graphql';
import { MAX_LIMIT } from '../model';
import { Direction } from './direction.enum';

@ArgsType()
export class ListenerConnectionsArgs {
  @Field(() => Direction, { nullable: true })
  direction?: Direction;

  @Field(() => Float, { nullable: true })
  minConfidence?: number;

  @Field(() => Int, { nullable: true, description: `At most ${MAX_LIMIT}; default every connection (within the request's row budget).` })
  limit?: number | null;

  @Field(() => Int, { nullable: true, defaultValue: 0 })
  offset?: number | null;
}
