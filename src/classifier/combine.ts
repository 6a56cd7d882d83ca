import type { Direction } from '../model';
import { CONCLUSIVE_WEIGHT } from './rule';

/**
 * Below this probability for the more likely side the verdict is UNKNOWN. Chosen so that a lone
 * connection with only port hints (e.g. a child whose listener closed, on a port inside the
 * ephemeral range, talking to a peer on a client-range port) is reported as UNKNOWN, not guessed.
 */
export const UNKNOWN_BELOW = 0.75;

/** Non-certain verdicts never print as 1: a sum of heuristics is never proof. */
const MAX_HEURISTIC_CONFIDENCE = 0.9999;

export interface Outcome {
  direction: Direction;
  confidence: number;
  inboundProbability: number;
  certain: boolean;
}

function round(p: number): number {
  return Math.round(p * 1e4) / 1e4;
}

/**
 * Rules add their weights in log-odds from even odds (no prior: tcpdir never defaults to a
 * direction). Conclusive facts that agree settle the verdict; conclusive facts that disagree are
 * summed like the rest and the verdict is not certain. `fired` = 0 means no rule spoke.
 */
export function outcome(llr: number, conclusiveIn: number, conclusiveOut: number, fired: number): Outcome {
  if (conclusiveIn > 0 && conclusiveOut === 0) return { direction: 'INBOUND', confidence: 1, inboundProbability: 1, certain: true };
  if (conclusiveOut > 0 && conclusiveIn === 0) return { direction: 'OUTBOUND', confidence: 1, inboundProbability: 0, certain: true };
  if (fired === 0) return { direction: 'UNKNOWN', confidence: 0, inboundProbability: 0.5, certain: false };
  const total = llr + (conclusiveIn - conclusiveOut) * CONCLUSIVE_WEIGHT;
  const pIn = Math.min(Math.max(1 / (1 + Math.exp(-total)), 1 - MAX_HEURISTIC_CONFIDENCE), MAX_HEURISTIC_CONFIDENCE);
  const p = pIn >= 0.5 ? pIn : 1 - pIn;
  if (p < UNKNOWN_BELOW) return { direction: 'UNKNOWN', confidence: 0, inboundProbability: round(pIn), certain: false };
  return { direction: pIn >= 0.5 ? 'INBOUND' : 'OUTBOUND', confidence: round(p), inboundProbability: round(pIn), certain: false };
}
