import { ArgsType, Field, Int } from 'type-graphql';

@ArgsType()
export class ListenersArgs {
  @Field(() => Int, { nullable: true })
  port?: number;
}
