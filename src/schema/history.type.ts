import { GraphQLDateTime } from 'graphql-scalars';
import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AddressFamily } from './address-family.enum';
import { Direction } from './direction.enum';
import { Endpoint } from './endpoint.type';
import { Process } from './process.type';

export enum ObservedBy {
  KERNEL = 'KERNEL',
  SNAPSHOT = 'SNAPSHOT',
}
registerEnumType(ObservedBy, {
  name: 'ObservedBy',
  description: "How a connection's life was seen: KERNEL (the state-change tracepoint, exact times) or SNAPSHOT (polls; times have the poll's resolution).",
  valuesConfig: {
    KERNEL: { description: 'The state-change tracepoint: exact open and close times.' },
    SNAPSHOT: { description: "Snapshots taken every intervalMs: times are known to the poll's resolution." },
  },
});

@ObjectType({ simpleResolvers: true, description: 'One connection life, from open (or first sighting) to close, with who opened it.' })
export class HistoryRecord {
  @Field(() => ID, { description: 'Stable id of the record in the store.' })
  id!: string;

  @Field(() => String, { nullable: true, description: 'Network namespace (nsfs id), when a snapshot saw the socket.' })
  netns!: string | null;

  @Field(() => AddressFamily, { description: 'IPV4 or IPV6.' })
  family!: AddressFamily;

  @Field(() => Endpoint, { description: 'The endpoint on this host.' })
  local!: Endpoint;

  @Field(() => Endpoint, { description: 'The peer endpoint.' })
  remote!: Endpoint;

  @Field(() => Direction, { description: 'Who opened it.' })
  direction!: Direction;

  @Field(() => Float, { description: 'Probability that the direction is right (1 when certain).' })
  confidence!: number;

  @Field({ description: 'The kernel settled the direction.' })
  certain!: boolean;

  @Field(() => String, { nullable: true, description: 'The rule that settled the verdict (kernel-birth for tracepoint births).' })
  rule!: string | null;

  @Field(() => GraphQLDateTime, { nullable: true, description: 'When it opened; null when it existed before tcpdir started (preExisting).' })
  openedAt!: Date | null;

  @Field(() => GraphQLDateTime, { nullable: true, description: 'When it closed; null while open.' })
  closedAt!: Date | null;

  @Field(() => GraphQLDateTime, { description: 'When tcpdir first saw it (openedAt for births).' })
  firstSeenAt!: Date;

  @Field(() => Float, { nullable: true, description: "The life's length, closedAt - openedAt in ms; null while open or when openedAt is unknown." })
  durationMs!: number | null;

  @Field({ description: 'It existed before tcpdir started (or its birth event was lost).' })
  preExisting!: boolean;

  @Field(() => Process, { nullable: true, description: 'The process that owned the socket, when a snapshot saw it.' })
  process!: Process | null;

  @Field(() => Float, { nullable: true, description: 'Bytes sent, as the kernel reported at close; null while open or when the close was not seen by the tracepoint.' })
  bytesSent!: number | null;

  @Field(() => Float, { nullable: true, description: 'Bytes received, as the kernel reported at close; null while open or when the close was not seen by the tracepoint.' })
  bytesReceived!: number | null;

  @Field(() => Int, { nullable: true, description: 'Segments retransmitted, as the kernel reported at close; null while open or when the close was not seen by the tracepoint.' })
  retransmits!: number | null;

  @Field(() => ObservedBy, { description: 'How its life was seen, and so how exact its times are.' })
  observedBy!: ObservedBy;
}

@ObjectType({ simpleResolvers: true, description: 'A page of history, newest first.' })
export class HistoryPage {
  @Field(() => [HistoryRecord], { description: 'The lives of this page, newest first.' })
  records!: HistoryRecord[];

  @Field(() => String, { nullable: true, description: 'Cursor of the next page (pass it as `after`); null on the last page.' })
  next!: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'Per-minute aggregate of connection lives, grouped as asked (fields not grouped by are null).' })
export class Flow {
  @Field(() => GraphQLDateTime, { nullable: true, description: 'Start of the minute (when grouped by minute).' })
  minute!: Date | null;

  @Field(() => String, { nullable: true, description: 'Network namespace (nsfs id), when grouped by netns.' })
  netns!: string | null;

  @Field(() => Direction, { nullable: true, description: 'When grouped by direction.' })
  direction!: Direction | null;

  @Field(() => Int, { nullable: true, description: 'The local service port (INBOUND groups).' })
  localPort!: number | null;

  @Field(() => String, { nullable: true, description: 'The peer address, when grouped by remoteAddress.' })
  remoteAddress!: string | null;

  @Field(() => Int, { nullable: true, description: 'The remote service port (OUTBOUND and UNKNOWN groups).' })
  remotePort!: number | null;

  @Field(() => String, { nullable: true, description: 'The command that opened OUTBOUND connections, when known.' })
  process!: string | null;

  @Field(() => Float, { description: 'Lives opened in the group.' })
  opened!: number;

  @Field(() => Float, { description: 'Lives closed in the group.' })
  closed!: number;

  @Field(() => Float, { description: 'Sum of the closed lives durations, ms.' })
  durationMsTotal!: number;

  @Field(() => Float, { description: 'Bytes sent by the lives of the group whose byte count is known.' })
  bytesSent!: number;

  @Field(() => Float, { description: 'Bytes received by the lives of the group whose byte count is known.' })
  bytesReceived!: number;
}

@ObjectType({ simpleResolvers: true, description: "The history recorder: its mode, what it may miss, and its store's health." })
export class HistoryStatus {
  @Field(() => ObservedBy, { description: 'KERNEL: from the tracepoint; SNAPSHOT: by polling.' })
  mode!: ObservedBy;

  @Field(() => Int, { description: 'Poll interval, ms.' })
  intervalMs!: number;

  @Field({ description: 'What the history can miss, in words.' })
  caveat!: string;

  @Field(() => Int, { description: 'Lives open now.' })
  open!: number;

  @Field(() => Float, { description: 'Lives opened since start.' })
  opened!: number;

  @Field(() => Float, { description: 'Lives closed since start.' })
  closed!: number;

  @Field(() => Float, { description: 'Tracepoint events lost since start (each loss is a gap in history).' })
  droppedEvents!: number;

  @Field(() => Float, { description: 'Lives not stored because recording fell behind or the store failed (each drop is a gap in history).' })
  notStored!: number;

  @Field({ description: 'The SQLite file (or :memory:).' })
  path!: string;

  @Field(() => Float, { description: 'Lives stored.' })
  records!: number;

  @Field(() => Float, { description: 'Database size in bytes.' })
  bytes!: number;

  @Field(() => String, { nullable: true, description: "The store's last write error, if it has not recovered since." })
  lastError!: string | null;
}

export enum ConnectionEventType {
  OPENED = 'OPENED',
  CLOSED = 'CLOSED',
  VERDICT_CHANGED = 'VERDICT_CHANGED',
}
registerEnumType(ConnectionEventType, {
  name: 'ConnectionEventType',
  description: 'What happened to a connection life.',
  valuesConfig: {
    OPENED: { description: 'It was born, or first seen.' },
    CLOSED: { description: 'It closed, or stopped being seen.' },
    VERDICT_CHANGED: { description: 'Its direction or confidence changed (new evidence).' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'A connection life opened, closed, or changed verdict.' })
export class ConnectionEvent {
  @Field(() => ConnectionEventType, { description: 'What happened.' })
  type!: ConnectionEventType;

  @Field(() => GraphQLDateTime, { description: 'When it happened.' })
  at!: Date;

  @Field(() => HistoryRecord, { description: 'The life as it stands after the event (its id is its key while open).' })
  record!: HistoryRecord;
}

@ObjectType({ simpleResolvers: true, description: 'Where history is incomplete: events lost (a full ring buffer, an overloaded or failing store) or a time tcpdir was not recording.' })
export class HistoryGap {
  @Field(() => GraphQLDateTime, { description: 'When the loss was noticed.' })
  at!: Date;

  @Field(() => Float, { nullable: true, description: 'How many events or lives were lost, when known.' })
  lost!: number | null;

  @Field({ description: 'Why, in words (e.g. tracepoint events lost, store write failed, tcpdir not running).' })
  reason!: string;
}
