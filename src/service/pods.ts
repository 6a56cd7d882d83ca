import { readKubeletPods } from '../collectors';
import type { PodRef } from '../model';

export interface PodDirectoryOptions {
  /** Least time between two reads of the pod list (default 10 s): unknown ids do not hammer the kubelet. */
  minRefreshMs?: number;
  /** Told when a read fails (the last good list keeps answering), and when it works again. */
  onError?: (message: string | null) => void;
  read?: (source: string) => Promise<Map<string, PodRef>>;
}

/**
 * Container id -> pod, from the kubelet's pod list. The list is read again when an id is not in
 * it (a pod started since), at most every minRefreshMs, by one read shared among the callers.
 */
export class PodDirectory {
  private pods = new Map<string, PodRef>();
  private readAt = -Infinity;
  private inflight: Promise<void> | null = null;
  private failing = false;
  private readonly minRefreshMs: number;

  constructor(readonly source: string, private readonly opts: PodDirectoryOptions = {}) {
    this.minRefreshMs = opts.minRefreshMs ?? 10_000;
  }

  /** The pod of a container id; reads the list again first when the id is unknown and the list is old enough. */
  async lookup(containerId: string): Promise<PodRef | null> {
    const hit = this.pods.get(containerId);
    if (hit) return hit;
    // A read under way (another lookup's) may bring it: wait for that one too.
    if (this.inflight) await this.inflight;
    else if (Date.now() - this.readAt >= this.minRefreshMs) await this.refresh();
    return this.pods.get(containerId) ?? null;
  }

  /** What the last read said, without reading. */
  cached(containerId: string): PodRef | null {
    return this.pods.get(containerId) ?? null;
  }

  refresh(): Promise<void> {
    this.inflight ??= (async () => {
      this.readAt = Date.now();
      try {
        this.pods = await (this.opts.read ?? readKubeletPods)(this.source);
        if (this.failing) this.opts.onError?.(null);
        this.failing = false;
      } catch (e) {
        if (!this.failing) this.opts.onError?.(e instanceof Error ? e.message : String(e));
        this.failing = true;
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }
}
