import { ArgsType, Field, ID } from 'type-graphql';

@ArgsType()
export class ConnectionArgs {
  @Field(() => ID, { description: 'The connection id (Connection.id).' })
  id!: string;
}
