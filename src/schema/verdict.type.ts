import { Field, Float, ObjectType } from 'type-graphql';
import { Direction } from './direction.enum';
import { Evidence } from './evidence.type';

@ObjectType({ simpleResolvers: true, description: 'Which side opened a connection, how sure that is, and why.' })
export class Verdict {
  @Field(() => Direction, { description: 'Who opened the connection.' })
  direction!: Direction;

  @Field(() => Float, { description: 'Probability that direction is right; 0 for UNKNOWN.' })
  confidence!: number;

  @Field(() => Float, { description: 'Probability that the connection is inbound, always given.' })
  inboundProbability!: number;

  @Field({ description: 'The evidence is conclusive (not a weighing of hints).' })
  certain!: boolean;

  @Field(() => [Evidence], { description: 'The facts weighed.' })
  evidence!: Evidence[];
}
