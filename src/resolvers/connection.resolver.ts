import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { Connection, KernelFacts, Listener, Process, Verdict } from '../schema';
import type { ConnectionRecord } from '../service';
import { processesOf, withView, type RequestContext } from './context';

@Resolver(() => Connection)
export class ConnectionResolver {
  @FieldResolver(() => Verdict, { description: 'Who opened the connection, how sure that is, and why.' })
  verdict(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Verdict | Promise<Verdict> {
    return withView(ctx, (v) => v.verdictOf(c) as Verdict);
  }

  @FieldResolver(() => KernelFacts, { nullable: true, description: 'What the kernel says (eBPF); null when the kernel source is unavailable or has no record.' })
  kernel(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): KernelFacts | null | Promise<KernelFacts | null> {
    return withView(ctx, (v) => v.kernelFacts(c) as KernelFacts | null);
  }

  @FieldResolver(() => [Process], { description: 'Processes holding the socket (resolved on demand).' })
  processes(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Process[] | Promise<Process[]> {
    return processesOf(ctx, c);
  }

  @FieldResolver(() => Listener, { nullable: true, description: 'The live listener that owns the local endpoint.' })
  listener(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Listener | null | Promise<Listener | null> {
    return withView(ctx, (v) => v.listenerOf(c) as Listener | null);
  }

  @FieldResolver(() => Connection, { nullable: true, description: 'The other end, when it is also a socket on this host.' })
  peer(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Connection | null | Promise<Connection | null> {
    return withView(ctx, (v) => v.peerOf(c) as Connection | null);
  }
}
