import 'reflect-metadata';
import { createPubSub } from '@graphql-yoga/subscription';
import { buildSchema } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import { resolvers } from '../resolvers';

let built: Promise<GraphQLSchema> | null = null;

/** The GraphQL schema, built once per process from the type-graphql classes. */
export function tcpdirSchema(): Promise<GraphQLSchema> {
  // type-graphql asks for a PubSub whenever a Subscription exists, although connectionEvents
  // brings its own event source (subscribe): this one stays unused.
  built ??= buildSchema({ resolvers, validate: false, pubSub: createPubSub() }).then(describeRoots);
  return built;
}

/** type-graphql gives the root types no descriptions; graphql-schema-linter wants every type described. */
function describeRoots(schema: GraphQLSchema): GraphQLSchema {
  const query = schema.getQueryType();
  const subscription = schema.getSubscriptionType();
  if (query) query.description = 'Live TCP connections with their verdicts, listeners, namespaces, and the recorded history.';
  if (subscription) subscription.description = 'Live events over graphql-ws on /graphql.';
  return schema;
}
