import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: 'A peer address and how many of the connections counted come from it.' })
export class RemoteAddressCount {
  @Field({ description: 'The peer address (RFC 5952 text).' })
  address!: string;

  @Field(() => Int, { description: 'Connections from it.' })
  count!: number;
}
