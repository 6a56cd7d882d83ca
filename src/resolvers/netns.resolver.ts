import { Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { Connection, Listener, Netns, netnsSource, Pod, Process } from '../schema';
import { containerOfNetns, netnsRecords, socketNetns, type ConnectionRecord, type ListenerRecord, type NetnsRecord } from '../service';
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
  async processes(@Root() ns: NetnsRecord, @Ctx() ctx: RequestContext): Promise<Process[]> {
    return ctx.service.commands(ns.pids);
  }

  @FieldResolver(() => Pod, { nullable: true, description: "The Kubernetes pod of the namespace's container; null without a container, a pod source (serve --cri-socket or --kubelet-pods-url), or a match in it." })
  async pod(@Root() ns: NetnsRecord, @Ctx() ctx: RequestContext): Promise<Pod | null> {
    const c = ns.container;
    return c && ctx.service.pods ? ctx.service.pods.lookup(c.id) : null;
  }
}

@Resolver(() => Connection)
export class ConnectionNetnsResolver {
  @FieldResolver(() => String, { nullable: true, description: 'The network namespace the socket lives in (nsfs id); see Query.namespaces.' })
  async netns(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Promise<string | null> {
    return socketNetns((await ctx.view()).snapshot, c.socket);
  }

  @FieldResolver(() => Pod, { nullable: true, description: "The Kubernetes pod whose network namespace the socket lives in (Netns.pod); null on the node's own namespace or when unknown." })
  async pod(@Root() c: ConnectionRecord, @Ctx() ctx: RequestContext): Promise<Pod | null> {
    if (!ctx.service.pods) return null;
    const snapshot = (await ctx.view()).snapshot;
    const container = containerOfNetns(snapshot, socketNetns(snapshot, c.socket));
    return container ? ctx.service.pods.lookup(container.id) : null;
  }
}

@Resolver(() => Listener)
export class ListenerNetnsResolver {
  @FieldResolver(() => String, { nullable: true, description: 'The network namespace the listener lives in (nsfs id); it accepts only there.' })
  async netns(@Root() l: ListenerRecord, @Ctx() ctx: RequestContext): Promise<string | null> {
    return socketNetns((await ctx.view()).snapshot, l.socket);
  }
}
