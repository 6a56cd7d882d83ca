import { Args, ArgsType, Ctx, Field, FieldResolver, Int, Query, Resolver, Root } from 'type-graphql';
import { Connection, ConntrackFacts, ConntrackStatus, Host, Nat, Netns, TrackedFlow } from '../schema';
import { checkLimit, conntrackFactsOf, conntrackStatus, natOfConnection, netnsConntrackStatus, trackedFlows, type ConnectionRecord, type NetnsRecord } from '../service';
import type { RequestContext } from './context';

/** trackedFlows' limit when none (or null) is given: a default in the schema, so REST documents it too. */
const TRACKED_FLOWS_LIMIT = 1000;

@ArgsType()
export class TrackedFlowsArgs {
  @Field(() => String, { nullable: true, description: 'Only this namespace (nsfs id or /run/netns name).' })
  netns?: string | null;

  @Field(() => Int, { nullable: true, defaultValue: TRACKED_FLOWS_LIMIT, description: 'At most this many flows.' })
  limit?: number | null;
}

@Resolver(() => Connection)
export class ConnectionConntrackResolver {
  @FieldResolver(() => Nat, { nullable: true, description: "Where NAT sent the connection (its conntrack entry's tuples); null when conntrack has no entry for it or did not translate it." })
  async nat(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Promise<Nat | null> {
    return natOfConnection((await ctx.view()).ctx, c.socket);
  }

  @FieldResolver(() => ConntrackFacts, { nullable: true, description: "The conntrack entry joined to the connection (by 4-tuple, through NAT, possibly in another namespace) and what it says; null when none is." })
  async conntrack(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Promise<ConntrackFacts | null> {
    return conntrackFactsOf((await ctx.view()).ctx, c.socket) as ConntrackFacts | null;
  }
}

@Resolver(() => Host)
export class HostConntrackResolver {
  @FieldResolver(() => ConntrackStatus, { description: "Netfilter's conntrack tables (ctnetlink) across the namespaces read: read, or why not." })
  async conntrack(@Ctx() ctx: RequestContext): Promise<ConntrackStatus> {
    return conntrackStatus((await ctx.view()).snapshot);
  }
}

@Resolver(() => Netns)
export class NetnsConntrackResolver {
  @FieldResolver(() => ConntrackStatus, { description: "This namespace's conntrack table: read, or why not." })
  async conntrack(@Root() ns: NetnsRecord, @Ctx() ctx: RequestContext): Promise<ConntrackStatus> {
    return netnsConntrackStatus((await ctx.view()).snapshot, ns.id);
  }
}

@Resolver()
export class TrackedFlowResolver {
  @Query(() => [TrackedFlow], {
    nullable: true,
    description: 'Flows conntrack tracks that no socket read here belongs to (a router or NAT namespace forwarding them, or a socket out of sight), with the side that opened them. Null when an argument is bad (its error names it; the other fields are answered).',
  })
  async trackedFlows(@Args() a: TrackedFlowsArgs, @Ctx() ctx: RequestContext): Promise<TrackedFlow[]> {
    const limit = a.limit ?? TRACKED_FLOWS_LIMIT;
    checkLimit(limit, 0);
    const rows = trackedFlows((await ctx.view()).ctx, a.netns, limit);
    ctx.takeRows(rows.length);
    return rows as TrackedFlow[];
  }
}
