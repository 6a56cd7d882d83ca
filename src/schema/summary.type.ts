import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'Connections by direction; below minConfidence a verdict counts as unknown.' })
export class Summary {
  @Field(() => Int)
  total!: number;

  @Field(() => Int)
  inbound!: number;

  @Field(() => Int)
  outbound!: number;

  @Field(() => Int)
  unknown!: number;
}
