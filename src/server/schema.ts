import 'reflect-metadata';
import { buildSchema } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import { resolvers } from '../resolvers';

let built: Promise<GraphQLSchema> | null = null;

/** The GraphQL schema, built once per process from the type-graphql classes. */
export function tcpdirSchema(): Promise<GraphQLSchema> {
  built ??= buildSchema({ resolvers, validate: false });
  return built;
}
