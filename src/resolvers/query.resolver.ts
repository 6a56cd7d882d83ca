import { Args, Ctx, Int, Query, Resolver } from 'type-graphql';
import {
  ConnectionArgs, ConnectionFilterArgs, ConnectionsArgs, Connection, Host, Listener, ListenersArgs, socketSource, Summary, SummaryArgs, Verdict, VerdictArgs,
} from '../schema';
import { checkAddress, checkConfidence, checkPort } from '../service';
import type { RequestContext } from './context';
import { connectionPage } from './connection-page';

@Resolver()
export class QueryResolver {
  @Query(() => [Connection], { nullable: true, description: 'Connections (never LISTEN sockets), filtered; paged by limit and offset. Null when an argument is bad (its error names it; the other fields are answered).' })
  async connections(@Args() a: ConnectionsArgs, @Ctx() ctx: RequestContext): Promise<Connection[]> {
    return (await connectionPage(ctx, a)) as Connection[];
  }

  @Query(() => Int, { nullable: true, description: 'How many connections match the filter. Null when an argument is bad (its error names it; the other fields are answered).' })
  async connectionCount(@Args() a: ConnectionFilterArgs, @Ctx() ctx: RequestContext): Promise<number> {
    const view = await ctx.view();
    return view.count(await ctx.service.filterFor(view, a));
  }

  @Query(() => Connection, { nullable: true, description: 'One connection by id; null when it is gone.' })
  async connection(@Args() a: ConnectionArgs, @Ctx() ctx: RequestContext): Promise<Connection | null> {
    return (await ctx.view()).connection(a.id) as Connection | null;
  }

  @Query(() => [Listener], { nullable: true, description: 'Listening sockets, filtered by port and namespace. Null when an argument is bad (its error names it; the other fields are answered).' })
  async listeners(@Args() a: ListenersArgs, @Ctx() ctx: RequestContext): Promise<Listener[]> {
    checkPort('port', a.port);
    return (await ctx.view()).listeners(a.port, a.netns) as Listener[];
  }

  @Query(() => Verdict, { nullable: true, description: 'The verdict of the connection with this 4-tuple; null when there is none.' })
  async verdict(@Args() a: VerdictArgs, @Ctx() ctx: RequestContext): Promise<Verdict | null> {
    const la = checkAddress('localAddress', a.localAddress);
    const ra = checkAddress('remoteAddress', a.remoteAddress);
    checkPort('localPort', a.localPort);
    checkPort('remotePort', a.remotePort);
    return (await ctx.view()).verdictByTuple(la, a.localPort, ra, a.remotePort) as Verdict | null;
  }

  @Query(() => Summary, { nullable: true, description: 'How many connections go each way. Null when an argument is bad (its error names it; the other fields are answered).' })
  async summary(@Args() a: SummaryArgs, @Ctx() ctx: RequestContext): Promise<Summary> {
    checkConfidence('minConfidence', a.minConfidence);
    return (await ctx.view()).summary(a.minConfidence ?? 0, a.netns);
  }

  @Query(() => Host, { description: 'Where and when the current snapshot was taken, and what served it.' })
  async host(@Ctx() ctx: RequestContext): Promise<Host> {
    const h = (await ctx.view()).host();
    return { ...h, source: socketSource(h.source), collectedAt: new Date(h.collectedAt) };
  }
}
