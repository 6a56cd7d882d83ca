import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { Connection, KernelFacts, Listener, Process, Verdict } from '../schema';
import type { ConnectionRecord } from '../service';
import type { RequestContext } from './context';

@Resolver(() => Connection)
export class ConnectionResolver {
  @FieldResolver(() => Verdict, { description: 'Who opened the connection, how sure that is, and why.' })
  async verdict(@Root() c: Connection, @Ctx() ctx: RequestContext): Promise<Verdict> {
    return (await ctx.view()).verdictOf(c as unknown as ConnectionRecord) as Verdict;
  }

  @FieldResolver(() => KernelFacts, { nullable: true, description: 'What the kernel says (eBPF); null when the kernel source is unavailable or has no record.' })
  async kernel(@Root() c: Connection, @Ctx() ctx: RequestContext): Promise<KernelFacts | null> {
    return (await ctx.view()).kernelFacts(c as unknown as ConnectionRecord) as KernelFacts | null;
  }

  @FieldResolver(() => [Process], { description: 'Processes holding the socket (resolved on demand).' })
  async processes(@Root() c: Connection, @Ctx() ctx: RequestContext): Promise<Process[]> {
    return [...(await ctx.service.processesFor(await ctx.view(), c as unknown as ConnectionRecord))];
  }

  @FieldResolver(() => Listener, { nullable: true, description: 'The live listener that owns the local endpoint.' })
  async listener(@Root() c: Connection, @Ctx() ctx: RequestContext): Promise<Listener | null> {
    return (await ctx.view()).listenerOf(c as unknown as ConnectionRecord) as Listener | null;
  }

  @FieldResolver(() => Connection, { nullable: true, description: 'The other end, when it is also a socket on this host.' })
  async peer(@Root() c: Connection, @Ctx() ctx: RequestContext): Promise<Connection | null> {
    return (await ctx.view()).peerOf(c as unknown as ConnectionRecord) as Connection | null;
  }
}
