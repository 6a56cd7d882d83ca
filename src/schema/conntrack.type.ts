import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { ConntrackOrigin, ConntrackSide } from './conntrack-origin.enum';
import { Direction } from './direction.enum';
import { Endpoint } from './endpoint.type';

@ObjectType({ simpleResolvers: true, description: "Where netfilter's NAT sent a connection: its conntrack entry's two tuples, when they are not mirror images." })
export class Nat {
  @Field(() => Endpoint, { description: 'Source of the first packet, as it was sent (ORIGINAL tuple).' })
  originalSource!: Endpoint;

  @Field(() => Endpoint, { description: 'Destination the opener asked for (a service VIP or published port under DNAT).' })
  originalDestination!: Endpoint;

  @Field(() => Endpoint, { description: 'Where the answer comes from (REPLY tuple): the real backend under DNAT.' })
  replySource!: Endpoint;

  @Field(() => Endpoint, { description: 'Where the answer is sent: the address the world saw under SNAT or masquerade.' })
  replyDestination!: Endpoint;
}

@ObjectType({ simpleResolvers: true, description: "Whether netfilter's conntrack table was read, and why not when it was not." })
export class ConntrackStatus {
  @Field({ description: "At least one namespace's table was read." })
  available!: boolean;

  @Field(() => String, { nullable: true, description: 'Why not: EPERM (no CAP_NET_ADMIN), NATIVE_UNAVAILABLE (addon not built), NOT_ENTERED, DISABLED, ...; null when read.' })
  code!: string | null;

  @Field(() => String, { nullable: true, description: 'Why, in words; null when read.' })
  reason!: string | null;

  @Field(() => Int, { description: 'TCP entries read. 0 is normal where no rule uses conntrack (no NAT, no stateful firewall).' })
  entries!: number;

  @Field({ description: 'NEW events are received, so entries made from a SYN while tcpdir runs are known for certain.' })
  events!: boolean;

  @Field(() => Int, { description: 'NEW events the kernel dropped (socket buffer full) since tcpdir started; those entries are judged from the dump alone.' })
  lostEvents!: number;
}

@ObjectType({ simpleResolvers: true, description: 'A TCP flow netfilter tracks that no socket read here belongs to: forwarded through this host (a router or NAT namespace), or its socket is out of sight.' })
export class TrackedFlow {
  @Field(() => String, { nullable: true, description: 'The namespace whose conntrack table holds it (nsfs id).' })
  netns!: string | null;

  @Field(() => Endpoint, { description: 'The side that sent the first packet conntrack saw (ORIGINAL source): the opener when opener is certain or likely.' })
  opener!: Endpoint;

  @Field(() => Endpoint, { description: 'The destination that first packet asked for (ORIGINAL destination).' })
  destination!: Endpoint;

  @Field(() => Nat, { nullable: true, description: 'The NAT view; null when the flow was not translated.' })
  nat!: Nat | null;

  @Field({ description: "The TCP state conntrack holds (SYN_SENT, ESTABLISHED, TIME_WAIT, ...)." })
  state!: string;

  @Field(() => ConntrackOrigin, { description: 'How the entry began.' })
  origin!: ConntrackOrigin;

  @Field(() => Float, { description: 'P(opener really opened the connection), as the classifier weighs the entry: 1 for SEEN_CREATED, 0.5 for MID_STREAM.' })
  openerConfidence!: number;

  @Field(() => ID, { nullable: true, description: 'CTA_ID of the entry.' })
  id!: string | null;
}

@ObjectType({ simpleResolvers: true, description: "The conntrack entry a connection was joined to, and what it says." })
export class ConntrackFacts {
  @Field(() => String, { nullable: true, description: 'The namespace whose table holds the entry (nsfs id): another one than the socket\'s when a router or the host tracks the flow for it.' })
  netns!: string | null;

  @Field(() => ConntrackSide, { description: 'Which end of the entry this socket is.' })
  side!: ConntrackSide;

  @Field(() => ConntrackOrigin, { description: 'How the entry began (MID_STREAM proves nothing about the direction).' })
  origin!: ConntrackOrigin;

  @Field({ description: "The TCP state conntrack holds (SYN_SENT, ESTABLISHED, TIME_WAIT, ...)." })
  state!: string;

  @Field(() => Direction, { description: 'The direction the entry alone gives: OUTBOUND for ORIGINAL, INBOUND for REPLY; UNKNOWN when adopted mid-stream.' })
  direction!: Direction;
}
