import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: 'An address and port.' })
export class Endpoint {
  @Field({ description: 'RFC 5952 text, as the kernel holds it (IPv4-mapped stays ::ffff:a.b.c.d).' })
  address!: string;

  @Field(() => Int, { description: 'TCP port, 0-65535.' })
  port!: number;
}
