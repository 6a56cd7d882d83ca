import { Args, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { Connection, Listener, ListenerConnectionsArgs, Process } from '../schema';
import { checkConfidence, checkLimit, MAX_LIMIT, type ListenerRecord } from '../service';
import type { RequestContext } from './context';

@Resolver(() => Listener)
export class ListenerResolver {
  @FieldResolver(() => [Process], { description: 'Processes holding the listening socket (resolved on demand).' })
  async processes(@Root() l: Listener, @Ctx() ctx: RequestContext): Promise<Process[]> {
    return [...(await ctx.service.processesFor(await ctx.view(), l as unknown as ListenerRecord))];
  }

  @FieldResolver(() => [Connection], { nullable: true, description: "Connections on this listener's endpoint. Null when an argument is bad (its error names it; the other fields are answered)." })
  async connections(@Root() l: Listener, @Args() a: ListenerConnectionsArgs, @Ctx() ctx: RequestContext): Promise<Connection[]> {
    checkConfidence('minConfidence', a.minConfidence);
    const offset = a.offset ?? 0;
    checkLimit(a.limit ?? MAX_LIMIT, offset); // no limit: every connection
    const all = (await ctx.view()).listenerConnections(l as unknown as ListenerRecord, a);
    const rows = a.limit == null && offset === 0 ? all : all.slice(offset, a.limit == null ? undefined : offset + a.limit);
    ctx.takeRows(rows.length);
    return rows as Connection[];
  }
}
