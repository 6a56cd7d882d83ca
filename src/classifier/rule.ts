import type { Evidence, Socket } from '../model';
import type { Context } from './context';

/**
 * One evidence rule. `score` is the hot path, run for every connection of every snapshot: a
 * signed log-odds weight (> 0 favours INBOUND, < 0 OUTBOUND, 0 silent, +-Infinity conclusive),
 * with no allocation. `detail` is the explanation, built only when someone asks for evidence.
 */
export interface Rule {
  name: string;
  /** For the rule table (docs/classifier.md): which side the rule can favour, its nominal weight and why. */
  favors: 'INBOUND' | 'OUTBOUND' | 'EITHER';
  weight: number | 'conclusive';
  why: string;
  score(conn: Socket, ctx: Context): number;
  detail(conn: Socket, ctx: Context): string;
}

/** Weight shown for a conclusive fact (and used if conclusive facts ever disagree). */
export const CONCLUSIVE_WEIGHT = 10;

export function toEvidence(rule: string, score: number, detail: string): Evidence {
  const conclusive = !Number.isFinite(score);
  return {
    rule,
    favors: score > 0 ? 'INBOUND' : 'OUTBOUND',
    weight: conclusive ? CONCLUSIVE_WEIGHT : Math.abs(score),
    detail,
    conclusive,
  };
}
