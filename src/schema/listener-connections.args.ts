import { ArgsType, Field, Float } from 'type-graphql';
import { Direction } from './direction.enum';

@ArgsType()
export class ListenerConnectionsArgs {
  @Field(() => Direction, { nullable: true })
  direction?: Direction;

  @Field(() => Float, { nullable: true })
  minConfidence?: number;
}
