import { ArgsType, Field, Float, Int } from 'type-graphql';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../model';
import { ConnectionOrder } from './connection-order.enum';
import { Direction } from './direction.enum';
import { TcpState } from './tcp-state.enum';

/** Direction and ports: what connections, history and events are filtered by alike. */
@ArgsType()
export class DirectionPortArgs {
  @Field(() => Direction, { nullable: true, description: 'Only connections with this verdict direction.' })
  direction?: Direction;

  @Field(() => Int, { nullable: true, description: 'Matches the local or the remote port.' })
  port?: number;

  @Field(() => Int, { nullable: true, description: 'Matches the local port (0-65535).' })
  localPort?: number;

  @Field(() => Int, { nullable: true, description: 'Matches the remote port (0-65535).' })
  remotePort?: number;
}

@ArgsType()
export class ConnectionFilterArgs extends DirectionPortArgs {

  @Field(() => Float, { nullable: true, description: 'Keeps verdicts with confidence >= this (0 to 1).' })
  minConfidence?: number;

  @Field(() => TcpState, { nullable: true, description: 'Only connections in this state (LISTEN is refused: listeners are not connections).' })
  state?: TcpState;

  @Field(() => String, { nullable: true, description: 'Only this network namespace: its nsfs id (net:[4026532177]) or its /run/netns name.' })
  netns?: string;

  @Field(() => String, { nullable: true, description: 'Only peers at this address or in this CIDR (10.0.0.0/8, fd00::/64; an IPv4 one also matches IPv4-mapped peers).' })
  remoteAddress?: string;

  @Field(() => String, { nullable: true, description: 'Only sockets held by this process: a command (/proc/PID/comm) or a pid.' })
  process?: string;
}

@ArgsType()
export class ConnectionsArgs extends ConnectionFilterArgs {
  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_LIMIT, description: `At most ${MAX_LIMIT}.` })
  limit?: number | null;

  @Field(() => Int, { nullable: true, defaultValue: 0, description: 'Connections to skip first (the order is stable within one snapshot).' })
  offset?: number | null;

  @Field(() => ConnectionOrder, { nullable: true, description: 'Sort by this (default: the snapshot order).' })
  orderBy?: ConnectionOrder;

  @Field(() => Boolean, { nullable: true, defaultValue: false, description: 'Sort descending (with orderBy).' })
  descending?: boolean | null;
}
