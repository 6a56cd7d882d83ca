import { ConnectionResolver } from './connection.resolver';
import { ListenerResolver } from './listener.resolver';
import { QueryResolver } from './query.resolver';

export const resolvers = [QueryResolver, ConnectionResolver, ListenerResolver] as const;
export { requestContext, type RequestContext } from './context';
