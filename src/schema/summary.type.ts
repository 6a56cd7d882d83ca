import { Field, Int, ObjectType } from 'type-graphql';

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
}
