import { ArgsType, Field, Int } from 'type-graphql';

@ArgsType()
export class VerdictArgs {
  @Field({ description: 'IPv4 text also finds an IPv4-mapped IPv6 socket.' })
  localAddress!: string;

  @Field(() => Int, { description: 'The local port (0-65535).' })
  localPort!: number;

  @Field({ description: 'The peer address (IPv4 or IPv6 text).' })
  remoteAddress!: string;

  @Field(() => Int, { description: 'The peer port (0-65535).' })
  remotePort!: number;
}
