import { ArgsType, Field, Float } from 'type-graphql';

@ArgsType()
export class SummaryArgs {
  @Field(() => Float, { nullable: true, description: 'Verdicts below this confidence (0 to 1) count as unknown.' })
  minConfidence?: number;

  @Field(() => String, { nullable: true, description: 'Only this network namespace: its nsfs id (net:[4026532177]) or its /run/netns name.' })
  netns?: string;
}
