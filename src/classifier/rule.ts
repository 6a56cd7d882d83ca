import type { Evidence, Socket } from '../model';
import type { Context } from './context';

/** One evidence rule: looks at a connection in its snapshot and returns what it found, if anything. */
export interface Rule {
  name: string;
  /** For the README table: which side the rule can favour, its nominal weight and why. */
  favors: 'INBOUND' | 'OUTBOUND' | 'EITHER';
  weight: number | 'conclusive';
  why: string;
  evaluate(conn: Socket, ctx: Context): Evidence | null;
}

/** Weight given to a conclusive fact when it has to be summed (conflicting conclusive facts). */
export const CONCLUSIVE_WEIGHT = 10;

export function evidence(rule: string, favors: 'INBOUND' | 'OUTBOUND', weight: number, detail: string): Evidence {
  return { rule, favors, weight, detail, conclusive: false };
}

export function conclusive(rule: string, favors: 'INBOUND' | 'OUTBOUND', detail: string): Evidence {
  return { rule, favors, weight: CONCLUSIVE_WEIGHT, detail, conclusive: true };
}
