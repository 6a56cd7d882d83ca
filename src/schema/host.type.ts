import { Field, Int, ObjectType } from 'type-graphql';
import { KernelEvidenceStatus } from './kernel.type';

@ObjectType({ description: 'An inclusive port range.' })
export class PortRange {
  @Field(() => Int)
  low!: number;

  @Field(() => Int)
  high!: number;
}

@ObjectType({ description: 'Where and when the current snapshot was taken.' })
export class Host {
  @Field({ description: 'netlink or procfs.' })
  source!: string;

  @Field(() => String, { nullable: true, description: 'Why the preferred source was not used, when it was not.' })
  fallbackReason!: string | null;

  @Field({ description: 'ISO 8601 time the snapshot was taken.' })
  collectedAt!: string;

  @Field(() => PortRange, { description: "This network namespace's ip_local_port_range (0-0 when unreadable)." })
  ephemeralPortRange!: PortRange;

  @Field(() => [PortRange], { description: 'ip_local_reserved_ports.' })
  reservedPorts!: PortRange[];

  @Field(() => String, { nullable: true, description: 'The network namespace, e.g. net:[4026531840].' })
  netns!: string | null;

  @Field(() => KernelEvidenceStatus, { description: 'The eBPF source: serving, or why not.' })
  kernelEvidence!: KernelEvidenceStatus;

  @Field(() => Int, { description: 'Sockets in the snapshot, listeners included.' })
  socketCount!: number;
}
