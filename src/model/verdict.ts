/** Who opened a connection; the schema's and REST's enums are built from this list. */
export const DIRECTIONS = ['INBOUND', 'OUTBOUND', 'UNKNOWN'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** One piece of evidence: a rule that fired, which side it favours and by how much (log-odds). */
export interface Evidence {
  rule: string;
  favors: Direction;
  /** Log-odds contribution, always >= 0; `favors` carries the sign. Infinity-free: certain rules set `certain`. */
  weight: number;
  detail: string;
  /** True when this fact alone settles the direction. */
  conclusive?: boolean;
}

export interface Verdict {
  direction: Direction;
  /** P(direction is right); 0 for UNKNOWN. */
  confidence: number;
  /** P(inbound), always present. */
  inboundProbability: number;
  certain: boolean;
  evidence: Evidence[];
}
