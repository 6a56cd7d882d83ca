import { Field, ID, ObjectType } from 'type-graphql';
import { AddressFamily } from './address-family.enum';
import { Endpoint } from './endpoint.type';

@ObjectType({ description: 'A LISTEN socket.' })
export class Listener {
  @Field(() => ID)
  id!: string;

  @Field(() => AddressFamily)
  family!: AddressFamily;

  @Field(() => Endpoint)
  local!: Endpoint;

  @Field({ description: 'An IPv6 wildcard listener that also accepts IPv4 (not V6ONLY).' })
  dualStack!: boolean;
}
