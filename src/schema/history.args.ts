import { ArgsType, Field, Float, Int } from 'type-graphql';
import { DirectionPortArgs } from './connection-filter.args';
import { Direction } from './direction.enum';

const TIME = 'An ISO-8601 time, or a duration back from now (30s, 15m, 1h, 7d).';

/** The groups of `flows` without groupBy (or with null): a default in the schema, so REST documents it too. */
export const DEFAULT_FLOW_GROUPS = ['direction', 'localPort', 'remoteAddress', 'remotePort', 'process'];

@ArgsType()
export class HistoryArgs extends DirectionPortArgs {
  @Field(() => String, { nullable: true, description: `Lives still open at or after this. ${TIME}` })
  since?: string;

  @Field(() => String, { nullable: true, description: `Lives opened at or before this. ${TIME}` })
  until?: string;

  @Field(() => String, { nullable: true, description: 'An address or a CIDR (10.0.0.0/8, fd00::/64); IPv4 ones match IPv4-mapped peers too.' })
  remoteAddress?: string;

  @Field(() => String, { nullable: true, description: 'A command (exact) or a pid.' })
  process?: string;

  @Field(() => String, { nullable: true, description: 'Only this network namespace (nsfs id).' })
  netns?: string;

  @Field(() => Float, { nullable: true, description: 'Keeps lives whose verdict confidence is >= this (0 to 1).' })
  minConfidence?: number;

  @Field(() => Boolean, { nullable: true, description: 'true: still open; false: closed.' })
  open?: boolean;

  @Field(() => Int, { nullable: true, defaultValue: 100, description: 'At most 10000.' })
  limit?: number;

  @Field(() => String, { nullable: true, description: "The previous page's `next`." })
  after?: string;
}

@ArgsType()
export class FlowsArgs {
  @Field(() => String, { nullable: true, description: TIME })
  since?: string;

  @Field(() => String, { nullable: true, description: TIME })
  until?: string;

  @Field(() => [String], { nullable: true, defaultValue: DEFAULT_FLOW_GROUPS, description: 'Any of netns, direction, localPort, remoteAddress, remotePort, process, minute.' })
  groupBy?: string[];

  @Field(() => Direction, { nullable: true, description: 'Only lives with this direction.' })
  direction?: Direction;

  @Field(() => Int, { nullable: true, description: 'The service port: local for INBOUND, remote for the others.' })
  port?: number;

  @Field(() => String, { nullable: true, description: 'Only this network namespace (nsfs id).' })
  netns?: string;

  @Field(() => Int, { nullable: true, defaultValue: 100, description: 'Groups returned, at most 10000.' })
  limit?: number;
}

@ArgsType()
export class ConnectionEventsArgs {
  @Field(() => Direction, { nullable: true, description: 'Only lives with this direction.' })
  direction?: Direction;

  @Field(() => Int, { nullable: true, description: 'Matches the local or the remote port.' })
  port?: number;

  @Field(() => String, { nullable: true, description: 'Only this network namespace (nsfs id).' })
  netns?: string;

  @Field(() => Float, { nullable: true, description: 'Keeps lives whose verdict confidence is >= this (0 to 1).' })
  minConfidence?: number;
}

@ArgsType()
export class HistoryGapsArgs {
  @Field(() => String, { nullable: true, description: TIME })
  since?: string;

  @Field(() => String, { nullable: true, description: TIME })
  until?: string;
}
