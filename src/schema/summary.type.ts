import { Field, Int, ObjectType } from 'type-graphql';
import { TcpState } from './tcp-state.enum';

/** The four counts a summary and each of its states give. */
@ObjectType({ simpleResolvers: true, description: "Counts by direction (not in the schema: Summary and StateSummary inherit its fields)." })
abstract class DirectionCounts {
  @Field(() => Int, { description: 'Connections counted.' })
  total!: number;

  @Field(() => Int, { description: 'INBOUND at or above minConfidence.' })
  inbound!: number;

  @Field(() => Int, { description: 'OUTBOUND at or above minConfidence.' })
  outbound!: number;

  @Field(() => Int, { description: 'UNKNOWN, or below minConfidence.' })
  unknown!: number;
}

@ObjectType({ simpleResolvers: true, description: 'Connections in one TCP state, by direction; below minConfidence a verdict counts as unknown.' })
export class StateSummary extends DirectionCounts {
  @Field(() => TcpState, { description: 'The TCP state.' })
  state!: TcpState;
}

@ObjectType({ simpleResolvers: true, description: 'Connections by direction; below minConfidence a verdict counts as unknown.' })
export class Summary extends DirectionCounts {
  @Field(() => [StateSummary], { description: "The same counts per TCP state, in the kernel's state order; states without connections are left out." })
  byState!: StateSummary[];
}
