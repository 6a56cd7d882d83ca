import { Field, ID, ObjectType } from 'type-graphql';
import { AddressFamily } from './address-family.enum';
import { Endpoint } from './endpoint.type';

@ObjectType({ simpleResolvers: true, description: 'A LISTEN socket.' })
export class Listener {
  @Field(() => ID, { description: 'Stable for the life of the socket (the kernel cookie with netlink).' })
  id!: string;

  @Field(() => AddressFamily, { description: 'IPV4 or IPV6.' })
  family!: AddressFamily;

  @Field(() => Endpoint, { description: 'The bound address (0.0.0.0 or :: for a wildcard) and port.' })
  local!: Endpoint;

  @Field({ description: 'An IPv6 wildcard listener that also accepts IPv4 (not V6ONLY).' })
  dualStack!: boolean;
}
