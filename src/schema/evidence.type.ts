import { Field, Float, ObjectType } from 'type-graphql';
import { Direction } from './direction.enum';

@ObjectType({ simpleResolvers: true, description: 'One fact behind a verdict.' })
export class Evidence {
  @Field({ description: 'The rule that found it (see the rule table in docs/classifier.md).' })
  rule!: string;

  @Field(() => Direction, { description: 'The direction this fact points to.' })
  favors!: Direction;

  @Field(() => Float, { description: 'Log-odds weight; conclusive facts show 10.' })
  weight!: number;

  @Field({ description: 'What was found, in words.' })
  detail!: string;

  @Field({ description: 'This fact alone settles the direction.' })
  conclusive!: boolean;
}
