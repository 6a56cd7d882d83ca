import { Field, Int, ObjectType } from 'type-graphql';
import { TcpState } from './tcp-state.enum';

@ObjectType({ description: 'Connections in one TCP state, by direction; below minConfidence a verdict counts as unknown.' })
export class StateSummary {
  @Field(() => TcpState, { description: 'The TCP state.' })
  state!: TcpState;

  @Field(() => Int, { description: 'Connections in this state.' })
  total!: number;

  @Field(() => Int, { description: 'INBOUND at or above minConfidence.' })
  inbound!: number;

  @Field(() => Int, { description: 'OUTBOUND at or above minConfidence.' })
  outbound!: number;

  @Field(() => Int, { description: 'UNKNOWN, or below minConfidence.' })
  unknown!: number;
}

@ObjectType({ simpleResolvers: true, description: 'Connections by direction; below minConfidence a verdict counts as unknown.' })
export class Summary {
  @Field(() => Int, { description: 'Connections counted.' })
  total!: number;

  @Field(() => Int, { description: 'INBOUND at or above minConfidence.' })
  inbound!: number;

  @Field(() => Int, { description: 'OUTBOUND at or above minConfidence.' })
  outbound!: number;

  @Field(() => Int, { description: 'UNKNOWN, or below minConfidence.' })
  unknown!: number;

  @Field(() => [StateSummary], { description: 'The same counts per TCP state, in the kernel\'s state order; states without connections are left out.' })
  byState!: StateSummary[];
}
