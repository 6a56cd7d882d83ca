import { Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { Connection, Listener, Netns, netnsSource, Process } from '../schema';
import { netnsRecords, socketNetns, type ConnectionRecord, type ListenerRecord, type NetnsRecord } from '../service';
import type { RequestContext } from './context';

@Resolver(() => Netns)
export class NetnsResolver {
  @Query(() => [Netns], {
    description: 'Every network namespace the snapshot covers, the own one first; source and reason say which could not be read and why.',
  })
  async namespaces(@Ctx() ctx: RequestContext): Promise<Netns[]> {
    const view = await ctx.view();
    return netnsRecords(view.snapshot, view.ctx).map((ns) => ({ ...ns, source: netnsSource(ns.source) }));
  }

  @FieldResolver(() => [Process], { description: 'Processes living in the namespace (pid and /proc/PID/comm; at most 1000).' })
  async processes(@Root() ns: Netns, @Ctx() ctx: RequestContext): Promise<Process[]> {
    return ctx.service.commands((ns as unknown as NetnsRecord).pids);
  }
}

@Resolver(() => Connection)
export class ConnectionNetnsResolver {
  @FieldResolver(() => String, { nullable: true, description: 'The network namespace the socket lives in (nsfs id); see Query.namespaces.' })
  async netns(@Root() c: Connection, @Ctx() ctx: RequestContext): Promise<string | null> {
    return socketNetns((await ctx.view()).snapshot, (c as unknown as ConnectionRecord).socket);
  }
}

@Resolver(() => Listener)
export class ListenerNetnsResolver {
  @FieldResolver(() => String, { nullable: true, description: 'The network namespace the listener lives in (nsfs id); it accepts only there.' })
  async netns(@Root() l: Listener, @Ctx() ctx: RequestContext): Promise<string | null> {
    return socketNetns((await ctx.view()).snapshot, (l as unknown as ListenerRecord).socket);
  }
}
