import { Field, Int, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: 'A process holding the socket (from /proc/PID/fd; needs root to see other users).' })
export class Process {
  @Field(() => Int, { description: 'Process id (tgid).' })
  pid!: number;

  @Field({ description: 'From /proc/PID/comm.' })
  command!: string;
}
