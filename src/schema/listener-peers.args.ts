import { ArgsType, Field, Float, Int } from 'type-graphql';
import { Direction } from './direction.enum';

/** Which of a listener's connections to count (Listener.connectionCount, Listener.remoteAddresses). */
@ArgsType()
export class ListenerCountArgs {
  @Field(() => Direction, { nullable: true, description: 'Only connections with this verdict direction.' })
  direction?: Direction;

  @Field(() => Float, { nullable: true, description: 'Keeps verdicts with confidence >= this (0 to 1).' })
  minConfidence?: number;
}

@ArgsType()
export class ListenerRemotesArgs extends ListenerCountArgs {
  @Field(() => Int, { nullable: true, defaultValue: 5, description: 'How many addresses, busiest first (1-100).' })
  limit?: number | null;
}
