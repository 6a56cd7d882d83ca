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
  built ??= buildSchema({ resolvers, validate: false, pubSub: createPubSub() });
  return built;
}
