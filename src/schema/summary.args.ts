import { ArgsType, Field, Float } from 'type-graphql';

@ArgsType()
export class SummaryArgs {
  @Field(() => Float, { nullable: true })
  minConfidence?: number;
}
