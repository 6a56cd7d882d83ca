import { ArgsType, Field, Float, Int } from 'type-graphql';
import { Direction } from './direction.enum';

@ArgsType()
export class ListenerConnectionsArgs {
  @Field(() => Direction, { nullable: true })
  direction?: Direction;

  @Field(() => Float, { nullable: true })
  minConfidence?: number;

  @Field(() => Int, { nullable: true, description: "At most 100000; default every connection (within the request's row budget)." })
  limit?: number | null;

  @Field(() => Int, { nullable: true, defaultValue: 0 })
  offset?: number | null;
}
