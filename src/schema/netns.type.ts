import { GraphQLDateTime } from 'graphql-scalars';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { PortRange } from './host.type';
import { NetnsSource } from './source.enum';

@ObjectType({ simpleResolvers: true, description: "The container a namespace's processes belong to, from /proc/PID/cgroup." })
export class Container {
  @Field({ description: 'The runtime: docker, containerd, cri-o or podman.' })
  runtime!: string;

  @Field(() => ID, { description: 'The container id as the runtime names it (hex for docker).' })
  id!: string;

  @Field(() => String, { nullable: true, description: 'Kubernetes pod UID, when the cgroup path carries one.' })
  podUid!: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'A network namespace of this host and how tcpdir read it.' })
export class Netns {
  @Field(() => ID, { description: 'The nsfs id, e.g. net:[4026532177]; Connection.netns and Listener.netns carry it.' })
  id!: string;

  @Field(() => String, { nullable: true, description: 'Name under /run/netns (ip netns), when it has one.' })
  name!: string | null;

  @Field(() => [Int], { description: 'Process ids (tgids) living in the namespace.' })
  pids!: number[];

  @Field(() => Container, { nullable: true, description: 'The container its processes run in; null when none was recognised.' })
  container!: Container | null;

  @Field(() => PortRange, { nullable: true, description: "The namespace's own ip_local_port_range, read inside it; null when unreadable." })
  ephemeralPortRange!: PortRange | null;

  @Field({ description: 'The range could not be read inside the namespace and 32768-60999 is assumed (range evidence then weighs half).' })
  ephemeralPortRangeAssumed!: boolean;

  @Field(() => [PortRange], { description: 'Reserved ports of the namespace (ip_local_reserved_ports).' })
  reservedPorts!: PortRange[];

  @Field(() => NetnsSource, { description: "How the namespace's sockets were read; NONE when they were not." })
  source!: NetnsSource;

  @Field(() => String, { nullable: true, description: 'Why a fallback happened or the namespace was not read.' })
  reason!: string | null;

  @Field({ description: 'The namespace tcpdir runs in.' })
  self!: boolean;

  @Field(() => GraphQLDateTime, {
    nullable: true,
    description: "When its sockets were read; null when they were not. With kernel evidence, another namespace where the kernel counted no TCP change since its last read (and that held no socket that changes uncounted: TIME_WAIT, handshakes, accept queues) is not read again for up to 10 s: this is then older than the snapshot.",
  })
  readAt!: Date | null;

  @Field(() => Int, { description: 'Sockets read in it, listeners included.' })
  socketCount!: number;

  @Field(() => Int, { description: 'Connections read in it (sockets that are not listeners).' })
  connectionCount!: number;

  @Field(() => Int, { description: 'Listeners read in it.' })
  listenerCount!: number;

  @Field(() => Int, { description: 'Connections whose other end was found in another namespace of this host (both ends certain).' })
  crossNamespacePaired!: number;

  @Field(() => Int, {
    description: 'Connections whose remote address is a local address of some namespace here but no peer socket matched: NAT on the host rewrote the tuple, or the other end is out of sight.',
  })
  unpairedLocalRemote!: number;
}
