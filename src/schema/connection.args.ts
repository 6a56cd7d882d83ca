import { ArgsType, Field, ID } from 'type-graphql';

@ArgsType()
export class ConnectionArgs {
  @Field(() => ID)
  id!: string;
}
