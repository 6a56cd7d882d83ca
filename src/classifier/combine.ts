import type { Direction, Evidence, Verdict } from '../model';

/**
 * Below this probability for the more likely side the verdict is UNKNOWN. Chosen so that a lone
 * connection with only port-range hints (e.g. a child whose listener closed, on a port inside the
 * ephemeral range) is reported as UNKNOWN rather than as a guess.
 */
export const UNKNOWN_BELOW = 0.75;

/** Non-certain verdicts never print as 1: a sum of heuristics is never proof. */
const MAX_HEURISTIC_CONFIDENCE = 0.9999;

export function logOdds(evidence: readonly Evidence[]): number {
  let llr = 0;
  for (const e of evidence) llr += e.favors === 'INBOUND' ? e.weight : e.favors === 'OUTBOUND' ? -e.weight : 0;
  return llr;
}

function round(p: number): number {
  return Math.round(p * 1e4) / 1e4;
}

/**
 * Rules add their weights in log-odds from even odds (no prior: tcpdir never defaults to a
 * direction). Conclusive facts that agree settle the verdict; conclusive facts that disagree are
 * summed like the rest and the verdict is not certain.
 */
export function combine(evidence: Evidence[]): Verdict {
  let conclusiveSide: Direction | null = null;
  let conflict = false;
  for (const e of evidence) {
    if (!e.conclusive) continue;
    if (conclusiveSide === null) conclusiveSide = e.favors;
    else if (conclusiveSide !== e.favors) conflict = true;
  }
  if (conclusiveSide !== null && !conflict) {
    return {
      direction: conclusiveSide,
      confidence: 1,
      inboundProbability: conclusiveSide === 'INBOUND' ? 1 : 0,
      certain: true,
      evidence,
    };
  }
  if (evidence.length === 0) {
    return { direction: 'UNKNOWN', confidence: 0, inboundProbability: 0.5, certain: false, evidence };
  }
  const pIn = Math.min(Math.max(1 / (1 + Math.exp(-logOdds(evidence))), 1 - MAX_HEURISTIC_CONFIDENCE), MAX_HEURISTIC_CONFIDENCE);
  const side: Direction = pIn >= 0.5 ? 'INBOUND' : 'OUTBOUND';
  const p = side === 'INBOUND' ? pIn : 1 - pIn;
  return {
    direction: p < UNKNOWN_BELOW ? 'UNKNOWN' : side,
    confidence: p < UNKNOWN_BELOW ? 0 : round(p),
    inboundProbability: round(pIn),
    certain: false,
    evidence,
  };
}
