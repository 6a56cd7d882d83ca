import { Field, ID, Int, ObjectType } from 'type-graphql';
import { AddressFamily } from './address-family.enum';
import { Endpoint } from './endpoint.type';
import { TcpState } from './tcp-state.enum';

// verdict, processes, listener and peer are field resolvers (ConnectionResolver): a query pays
// only for the ones it asks for.
@ObjectType({ simpleResolvers: true, description: 'A TCP socket that is not listening.' })
export class Connection {
  @Field(() => ID, { description: 'Stable for the life of the socket (the kernel cookie with netlink).' })
  id!: string;

  @Field(() => AddressFamily, { description: 'IPV4 or IPV6.' })
  family!: AddressFamily;

  @Field(() => TcpState, { description: 'TCP state (never LISTEN).' })
  state!: TcpState;

  @Field(() => Endpoint, { description: 'The endpoint on this host.' })
  local!: Endpoint;

  @Field(() => Endpoint, { description: 'The peer endpoint.' })
  remote!: Endpoint;

  @Field(() => String, { nullable: true, description: 'Socket inode; null when no process holds a descriptor (TIME_WAIT, not yet accepted).' })
  inode!: string | null;

  @Field(() => Int, { nullable: true, description: 'Owner uid; null when the kernel reports none.' })
  uid!: number | null;
}
