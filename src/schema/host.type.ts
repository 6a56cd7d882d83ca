import { GraphQLDateTime } from 'graphql-scalars';
import { Field, Int, ObjectType } from 'type-graphql';
import { KernelEvidenceStatus } from './kernel.type';
import { SocketSource } from './source.enum';

@ObjectType({ simpleResolvers: true, description: 'An inclusive port range.' })
export class PortRange {
  @Field(() => Int, { description: 'First port of the range.' })
  low!: number;

  @Field(() => Int, { description: 'Last port of the range (inclusive).' })
  high!: number;
}

@ObjectType({ simpleResolvers: true, description: 'Where and when the current snapshot was taken.' })
export class Host {
  @Field(() => SocketSource, { description: "Where this namespace's sockets were read from." })
  source!: SocketSource;

  @Field(() => String, { nullable: true, description: 'Why the preferred source was not used, when it was not.' })
  fallbackReason!: string | null;

  @Field(() => GraphQLDateTime, { description: 'When the snapshot was taken.' })
  collectedAt!: Date;

  @Field(() => PortRange, { description: "This network namespace's ip_local_port_range (0-0 when unreadable)." })
  ephemeralPortRange!: PortRange;

  @Field(() => [PortRange], { description: 'Reserved ports (ip_local_reserved_ports).' })
  reservedPorts!: PortRange[];

  @Field(() => String, { nullable: true, description: 'The network namespace, e.g. net:[4026531840].' })
  netns!: string | null;

  @Field(() => KernelEvidenceStatus, { description: 'The eBPF source: serving, or why not.' })
  kernelEvidence!: KernelEvidenceStatus;

  @Field(() => Int, { description: 'Sockets in the snapshot, listeners included.' })
  socketCount!: number;
}
