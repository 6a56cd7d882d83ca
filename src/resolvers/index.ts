import { ConnectionResolver } from './connection.resolver';
import { ConnectionConntrackResolver, HostConntrackResolver, NetnsConntrackResolver, TrackedFlowResolver } from './conntrack.resolver';
import { ListenerResolver } from './listener.resolver';
import { ConnectionNetnsResolver, ListenerNetnsResolver, NetnsResolver } from './netns.resolver';
import { QueryResolver } from './query.resolver';
import { HistoryResolver, HostHistoryResolver } from './history.resolver';

export const resolvers = [QueryResolver, ConnectionResolver, ListenerResolver, NetnsResolver, ConnectionNetnsResolver, ListenerNetnsResolver, HistoryResolver, HostHistoryResolver,
  ConnectionConntrackResolver, HostConntrackResolver, NetnsConntrackResolver, TrackedFlowResolver] as const;
export { MAX_ROWS, requestContext, type RequestContext } from './context';
export { connectionPage } from './connection-page';
