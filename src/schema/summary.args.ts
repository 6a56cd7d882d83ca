import { ArgsType, Field, Float } from 'type-graphql';

@ArgsType()
export class SummaryArgs {
  @Field(() => Float, { nullable: true })
  minConfidence?: number;

  @Field(() => String, { nullable: true, description: 'Only this network namespace: its nsfs id (net:[4026532177]) or its /run/netns name.' })
  netns?: string;
}
