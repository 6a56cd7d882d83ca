import type { Direction, Evidence, Socket, Verdict } from '../model';
import type { Outcome } from './combine';
import type { Context } from './context';
import { conntrackNote } from './rules/conntrack';
import { kernelAbsenceNote, kernelFindingAt } from './rules/kernel';
import { LISTENER_GONE_DETAIL, LISTENER_GONE_RULE, peerDetail } from './rules/local-peer';
import { peerAgentNote } from './rules/peer-agent';
import { NO_LISTENER_DETAIL, NO_LISTENER_RULE } from './rules/no-listener';
import { remotePort, SOCKET_RULES } from './rules';
import { toEvidence } from './rule';

const DIRECTIONS: readonly Direction[] = ['UNKNOWN', 'INBOUND', 'OUTBOUND'];

/**
 * The verdicts of one snapshot. Direction, confidence and certainty are computed for every
 * connection up front (numbers in typed arrays); evidence, with its sentences, is built only
 * for the connections someone asks about, by running the same pure rules again.
 */
export class Classification {
  // Built on first lookup by id: a snapshot served only as lists and counts never needs it.
  private indexById: Map<string, number> | null = null;

  constructor(
    readonly ctx: Context,
    private readonly dir: Uint8Array,
    private readonly conf: Float64Array,
    private readonly pIn: Float64Array,
    private readonly sure: Uint8Array,
    private readonly peerIdx: Int32Array,
    private readonly peerScores: Float64Array,
    private readonly goneScores: Float64Array,
    /** What kernelCodes looked up per connection (packed facts, birth code), for the evidence. */
    private readonly kernelFacts: Int32Array,
    private readonly kernelBirths: Uint8Array,
  ) {}

  private get index(): Map<string, number> {
    if (this.indexById === null) {
      const m = new Map<string, number>();
      const conns = this.ctx.conns;
      for (let i = 0; i < conns.length; i++) m.set(conns[i].id, i);
      this.indexById = m;
    }
    return this.indexById;
  }

  get size(): number {
    return this.ctx.conns.length;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Index of a connection by socket id, or -1. */
  indexOf(id: string): number {
    return this.index.get(id) ?? -1;
  }

  direction(i: number): Direction {
    return DIRECTIONS[this.dir[i]];
  }

  confidence(i: number): number {
    return this.conf[i];
  }

  inboundProbability(i: number): number {
    return this.pIn[i];
  }

  certain(i: number): boolean {
    return this.sure[i] === 1;
  }

  /** The verdict of connection `id`, evidence included; undefined when `id` is no connection. */
  get(id: string): Verdict | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.verdictAt(i);
  }

  verdictAt(i: number): Verdict {
    return {
      direction: this.direction(i),
      confidence: this.conf[i],
      inboundProbability: this.pIn[i],
      certain: this.sure[i] === 1,
      evidence: this.evidenceAt(i),
    };
  }

  evidenceAt(i: number): Evidence[] {
    const conn = this.ctx.conns[i];
    const out: Evidence[] = [];
    const k = kernelFindingAt(this.ctx, conn, this.kernelFacts[i], this.kernelBirths[i]);
    if (k) out.push(toEvidence(k.rule, k.direction === 'INBOUND' ? Infinity : -Infinity, k.detail));
    const ps = this.peerScores[i];
    if (ps !== 0) {
      const { rule, detail } = peerDetail(conn, this.ctx.conns[this.peerIdx[i]], ps, this.ctx);
      out.push(toEvidence(rule, ps, detail));
    }
    // A pair's listener-gone bound, or a lone connection's no-listener bound.
    const gone = this.goneScores[i];
    if (gone !== 0) {
      out.push(this.peerIdx[i] >= 0 ? toEvidence(LISTENER_GONE_RULE, gone, LISTENER_GONE_DETAIL) : toEvidence(NO_LISTENER_RULE, gone, NO_LISTENER_DETAIL));
    }
    const dropRemote = ps !== 0 && Number.isFinite(ps);
    for (const r of SOCKET_RULES) {
      if (dropRemote && r === remotePort) continue;
      const s = r.score(conn, this.ctx);
      if (s !== 0) out.push(toEvidence(r.name, s, r.detail(conn, this.ctx)));
    }
    const ct = conntrackNote(this.ctx, conn);
    if (ct) out.push(ct);
    const pa = peerAgentNote(this.ctx, conn);
    if (pa) out.push(pa);
    const note = kernelAbsenceNote(this.ctx);
    if (note) out.push({ rule: 'kernel-evidence', favors: 'UNKNOWN', weight: 0, detail: note, conclusive: false });
    return out;
  }

  *entries(): IterableIterator<[Socket, Verdict]> {
    for (let i = 0; i < this.ctx.conns.length; i++) yield [this.ctx.conns[i], this.verdictAt(i)];
  }

  /** Map-like iteration: [socket id, verdict]. */
  *[Symbol.iterator](): IterableIterator<[string, Verdict]> {
    for (let i = 0; i < this.ctx.conns.length; i++) yield [this.ctx.conns[i].id, this.verdictAt(i)];
  }

  static directionCode(o: Outcome): number {
    return DIRECTIONS.indexOf(o.direction);
  }
}
