import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Direction } from './direction.enum';

@ObjectType({ simpleResolvers: true, description: 'Whether the kernel (eBPF) source is serving, and why not when it is not.' })
export class KernelEvidenceStatus {
  @Field({ description: 'The eBPF source is loaded and answering.' })
  available!: boolean;

  @Field(() => String, { nullable: true, description: 'Why kernel evidence is unavailable: NATIVE_UNAVAILABLE (addon not built), EPERM (no privilege), ENOBTF, KERNEL_TOO_OLD, EVERIFIER, DISABLED, ...' })
  code!: string | null;

  @Field(() => String, { nullable: true, description: 'Why, in words; null when available.' })
  reason!: string | null;

  @Field({ description: 'The state-change tracepoint is attached: connections opened from now on are seen being born.' })
  tracepoint!: boolean;
}

@ObjectType({ simpleResolvers: true, description: "What the kernel itself remembers about how this socket was made (eBPF socket iterator and tracepoint)." })
export class KernelFacts {
  @Field(() => Direction, { description: 'The direction the kernel facts alone give (UNKNOWN when they do not settle it).' })
  direction!: Direction;

  @Field(() => String, { nullable: true, description: 'The kernel rule that decided, e.g. kernel-connect-bind.' })
  rule!: string | null;

  @Field(() => Direction, { nullable: true, description: 'How the tracepoint saw the socket born; null when it was born before tcpdir started.' })
  bornAs!: Direction | null;

  @Field(() => String, { nullable: true, description: 'The state change that showed it, e.g. CLOSE->SYN_SENT.' })
  birthTransition!: string | null;

  @Field({ description: 'The local port was chosen by connect() (SOCK_CONNECT_BIND, a connect-allocated bind bucket, or tw_connect_bind).' })
  portChosenByConnect!: boolean;

  @Field({ description: 'The application bound this local port explicitly (never true for accepted sockets).' })
  explicitPortBind!: boolean;

  @Field({ description: 'The application bound a specific local address.' })
  explicitAddressBind!: boolean;

  @Field({ description: "The socket shares a live listener's port binding." })
  sharesListenerPort!: boolean;

  @Field(() => ID, { nullable: true, description: 'That listener (its id), when it shares one.' })
  listenerId!: string | null;

  @Field({ description: "The socket inherited a listener's accept backlog: it was accepted." })
  inheritedAcceptBacklog!: boolean;

  @Field(() => Int, { description: 'The accept backlog (sk_max_ack_backlog).' })
  acceptBacklog!: number;
}
