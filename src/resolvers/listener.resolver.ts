import { Args, Ctx, FieldResolver, Int, Resolver, Root } from 'type-graphql';
import { Connection, Listener, ListenerConnectionsArgs, ListenerCountArgs, ListenerRemotesArgs, Process, RemoteAddressCount } from '../schema';
import { checkConfidence, checkLimit, InputError, MAX_LIMIT, type ListenerRecord } from '../service';
import { processesOf, type RequestContext } from './context';

@Resolver(() => Listener)
export class ListenerResolver {
  @FieldResolver(() => [Process], { description: 'Processes holding the listening socket (resolved on demand).' })
  processes(@Root() l: ListenerRecord, @Ctx() ctx: RequestContext): Process[] | Promise<Process[]> {
    return processesOf(ctx, l);
  }

  @FieldResolver(() => [Connection], { nullable: true, description: "Connections on this listener's endpoint. Null when an argument is bad (its error names it; the other fields are answered)." })
  async connections(@Root() l: ListenerRecord, @Args() a: ListenerConnectionsArgs, @Ctx() ctx: RequestContext): Promise<Connection[]> {
    checkConfidence('minConfidence', a.minConfidence);
    const offset = a.offset ?? 0;
    checkLimit(a.limit ?? MAX_LIMIT, offset); // no limit: every connection
    const all = (await ctx.view()).listenerConnections(l, a);
    const rows = a.limit == null && offset === 0 ? all : all.slice(offset, a.limit == null ? undefined : offset + a.limit);
    ctx.takeRows(rows.length);
    return rows as Connection[];
  }

  @FieldResolver(() => Int, { nullable: true, description: "How many connections are on this listener's endpoint (no rows leave the server). Null when an argument is bad (its error names it; the other fields are answered)." })
  async connectionCount(@Root() l: ListenerRecord, @Args() a: ListenerCountArgs, @Ctx() ctx: RequestContext): Promise<number> {
    checkConfidence('minConfidence', a.minConfidence);
    return (await ctx.view()).listenerConnections(l, a).length;
  }

  @FieldResolver(() => [RemoteAddressCount], { nullable: true, description: "The peer addresses with the most connections on this listener, busiest first. Null when an argument is bad (its error names it; the other fields are answered)." })
  async remoteAddresses(@Root() l: ListenerRecord, @Args() a: ListenerRemotesArgs, @Ctx() ctx: RequestContext): Promise<RemoteAddressCount[]> {
    checkConfidence('minConfidence', a.minConfidence);
    const limit = a.limit ?? 5;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new InputError('limit', `limit must be an integer from 1 to 100, got ${limit}`);
    const counts = new Map<string, number>();
    for (const c of (await ctx.view()).listenerConnections(l, a)) counts.set(c.remote.address, (counts.get(c.remote.address) ?? 0) + 1);
    return [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, limit).map(([address, count]) => ({ address, count }));
  }
}
