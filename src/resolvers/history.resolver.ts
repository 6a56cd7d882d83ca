import { Args, Ctx, FieldResolver, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import type { LifeEvent, StoredLife } from '../history';
import { ConnectionEvent, ConnectionEventsArgs, DEFAULT_FLOW_GROUPS, Flow, FlowsArgs, HistoryArgs, HistoryGap, HistoryGapsArgs, Host, HistoryPage, HistoryRecord, HistoryStatus, type AddressFamily, type ConnectionEventType, type ObservedBy } from '../schema';
import { checkConfidence, checkNetnsId, checkPort, eventFilter, InputError, parseTime, type HistoryService } from '../service';
import type { RequestContext } from './context';

function historyOf(ctx: RequestContext): HistoryService {
  if (!ctx.history) throw new InputError('history', 'history is off on this server (started with --no-history)');
  return ctx.history;
}

export function historyRecord(l: StoredLife): HistoryRecord {
  return {
    id: l.id, netns: l.netns, family: l.family as AddressFamily,
    local: { address: l.localAddress, port: l.localPort }, remote: { address: l.remoteAddress, port: l.remotePort },
    direction: l.direction, confidence: l.confidence, certain: l.certain, rule: l.rule,
    openedAt: l.openedAt === null ? null : new Date(l.openedAt), closedAt: l.closedAt === null ? null : new Date(l.closedAt),
    firstSeenAt: new Date(l.firstSeenAt),
    durationMs: l.openedAt !== null && l.closedAt !== null ? l.closedAt - l.openedAt : null,
    preExisting: l.preExisting,
    process: l.pid !== null ? { pid: l.pid, command: l.command ?? '' } : null,
    bytesSent: l.bytesSent, bytesReceived: l.bytesReceived, retransmits: l.retransmits, observedBy: l.observedBy as ObservedBy,
  };
}

function eventsOf({ args, context }: SubscribeResolverData<unknown, ConnectionEventsArgs, RequestContext>): AsyncIterable<LifeEvent> {
  return historyOf(context).events(eventFilter(args as ConnectionEventsArgs));
}

@Resolver()
export class HistoryResolver {
  @Subscription(() => ConnectionEvent, {
    subscribe: eventsOf,
    description: 'Connection lives as they open and close (and change verdict), over graphql-ws on /graphql. A subscriber that falls 10,000 events behind is ended with an error saying so.',
  })
  connectionEvents(@Root() e: LifeEvent, @Args() _a: ConnectionEventsArgs): ConnectionEvent {
    return { type: e.type as ConnectionEventType, at: new Date(e.at), record: historyRecord({ ...e.life, id: e.life.key }) };
  }

  @Query(() => HistoryPage, { nullable: true, description: 'Connections that opened or closed while tcpdir ran (and those open when it started), newest first. Null when an argument is bad (its error names it; the other fields are answered).' })
  history(@Args() a: HistoryArgs, @Ctx() ctx: RequestContext): HistoryPage {
    const h = historyOf(ctx);
    for (const p of ['port', 'localPort', 'remotePort'] as const) checkPort(p, a[p]);
    checkConfidence('minConfidence', a.minConfidence);
    checkNetnsId('netns', a.netns);
    const now = Date.now();
    const page = h.query({
      since: parseTime('since', a.since, now), until: parseTime('until', a.until, now), direction: a.direction,
      port: a.port ?? undefined, localPort: a.localPort ?? undefined, remotePort: a.remotePort ?? undefined,
      remoteAddress: a.remoteAddress ?? undefined, process: a.process ?? undefined, netns: a.netns ?? undefined,
      minConfidence: a.minConfidence ?? undefined, open: a.open ?? undefined,
    }, a.limit ?? 100, a.after ?? null);
    return { records: page.lives.map(historyRecord), next: page.next };
  }

  @Query(() => [Flow], { nullable: true, description: 'Connection lives aggregated per minute and grouped as asked, busiest first. Null when an argument is bad (its error names it; the other fields are answered).' })
  flows(@Args() a: FlowsArgs, @Ctx() ctx: RequestContext): Flow[] {
    const h = historyOf(ctx);
    checkPort('port', a.port);
    checkNetnsId('netns', a.netns);
    const now = Date.now();
    const groupBy = a.groupBy ?? DEFAULT_FLOW_GROUPS;
    return h.flows(
      { since: parseTime('since', a.since, now), until: parseTime('until', a.until, now), direction: a.direction, port: a.port ?? undefined, netns: a.netns ?? undefined },
      groupBy, a.limit ?? 100,
    ).map((r) => ({
      minute: r.minute === undefined ? null : new Date(r.minute), netns: r.netns ?? null, direction: r.direction ?? null,
      localPort: r.localPort ?? null, remoteAddress: r.remoteAddress ?? null, remotePort: r.remotePort ?? null, process: r.process ?? null,
      opened: r.opened, closed: r.closed, durationMsTotal: r.durationMsTotal, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived,
    }));
  }

  @Query(() => [HistoryGap], { nullable: true, description: 'Where history is incomplete (lost events, times tcpdir was not recording), newest first. Null when an argument is bad (its error names it; the other fields are answered).' })
  historyGaps(@Args() a: HistoryGapsArgs, @Ctx() ctx: RequestContext): HistoryGap[] {
    const h = historyOf(ctx);
    const now = Date.now();
    return h.gaps(parseTime('since', a.since, now), parseTime('until', a.until, now)).map((g) => ({ at: new Date(g.at), lost: g.lost, reason: g.reason }));
  }

  @Query(() => HistoryStatus, { nullable: true, description: 'The history recorder and its store; null when history is off.' })
  historyStatus(@Ctx() ctx: RequestContext): HistoryStatus | null {
    return historyStatusOf(ctx);
  }
}

function historyStatusOf(ctx: RequestContext): HistoryStatus | null {
  if (!ctx.history) return null;
  const s = ctx.history.status();
  return {
    mode: s.recorder.mode as ObservedBy, intervalMs: s.recorder.intervalMs, caveat: s.caveat, open: s.recorder.open,
    opened: s.recorder.opened, closed: s.recorder.closed, droppedEvents: s.droppedEvents, notStored: s.store.droppedWrites,
    path: s.store.path, records: s.store.records, bytes: s.store.bytes,
    lastError: s.store.lastError ? `${s.store.lastError.code}: ${s.store.lastError.message}` : null,
  };
}

@Resolver(() => Host)
export class HostHistoryResolver {
  @FieldResolver(() => HistoryStatus, { nullable: true, description: "The history recorder: its mode (KERNEL or SNAPSHOT), interval and what it can miss; null when history is off." })
  history(@Ctx() ctx: RequestContext): HistoryStatus | null {
    return historyStatusOf(ctx);
  }
}
