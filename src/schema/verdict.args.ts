import { ArgsType, Field, Int } from 'type-graphql';

@ArgsType()
export class VerdictArgs {
  @Field({ description: 'IPv4 text also finds an IPv4-mapped IPv6 socket.' })
  localAddress!: string;

  @Field(() => Int)
  localPort!: number;

  @Field()
  remoteAddress!: string;

  @Field(() => Int)
  remotePort!: number;
}
