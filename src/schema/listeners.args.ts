import { ArgsType, Field, Int } from 'type-graphql';

@ArgsType()
export class ListenersArgs {
  @Field(() => Int, { nullable: true, description: 'Only listeners on this local port.' })
  port?: number;

  @Field(() => String, { nullable: true, description: 'Only this network namespace: its nsfs id (net:[4026532177]) or its /run/netns name.' })
  netns?: string;
}
