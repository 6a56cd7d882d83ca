import { CriClient, CriPodReader, readKubeletPods } from '../collectors';
import type { PodRef } from '../model';

/** What the API and the exporters ask: one directory, or several in order. */
export interface PodLookup {
  lookup(containerId: string): Promise<PodRef | null>;
  cached(containerId: string): PodRef | null;
}

export interface PodDirectoryOptions {
  /** Least time between two reads of the pod list (default 10 s): unknown ids do not hammer the kubelet. */
  minRefreshMs?: number;
  /**
   * Told when a read fails (the last good list keeps answering; `everRead` false: there is none
   * yet), and when it works again (null).
   */
  onError?: (message: string | null, source: string, everRead: boolean) => void;
  read?: (source: string) => Promise<Map<string, PodRef>>;
}

/**
 * Container id -> pod, from one source (the kubelet's pod list, or a `read` such as a CRI socket's). The list is read again when an id is not in
 * it (a pod started since), at most every minRefreshMs, by one read shared among the callers.
 */
export class PodDirectory implements PodLookup {
  private pods = new Map<string, PodRef>();
  private readAt = -Infinity;
  private inflight: Promise<void> | null = null;
  private failing = false;
  private everRead = false;
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
        this.everRead = true;
        if (this.failing) this.opts.onError?.(null, this.source, true);
        this.failing = false;
      } catch (e) {
        if (!this.failing) this.opts.onError?.(e instanceof Error ? e.message : String(e), this.source, this.everRead);
        this.failing = true;
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }
}

/** Several sources, asked in order: the first that knows a container names it. */
export class PodSources implements PodLookup {
  constructor(readonly sources: readonly PodLookup[]) {}

  async lookup(containerId: string): Promise<PodRef | null> {
    for (const s of this.sources) {
      const pod = await s.lookup(containerId);
      if (pod) return pod;
    }
    return null;
  }

  cached(containerId: string): PodRef | null {
    for (const s of this.sources) {
      const pod = s.cached(containerId);
      if (pod) return pod;
    }
    return null;
  }
}

export interface PodSourceOptions {
  /** A runtime's CRI socket (containerd, CRI-O, cri-dockerd): ListContainers' kubelet labels name the pods. */
  criSocket?: string;
  /**
   * The socket was not asked for but found at a usual path: if its first answer fails (a
   * containerd without its CRI plugin, as Docker runs it; no permission), it is not asked again.
   */
  criProbed?: boolean;
  /** The kubelet's pod list (URL or PodList file). */
  kubeletPods?: string;
  onError?: (message: string | null, source: string, everRead: boolean) => void;
  /** Told once which runtime answers on the CRI socket. */
  onSource?: (message: string) => void;
  minRefreshMs?: number;
}

/**
 * The pod sources given, the CRI socket first (the runtime knows a container as soon as it is
 * created; the kubelet's list lags by its sync period), or null for none. The CRI socket is asked
 * for its Version at once, so a wrong socket is reported at start. `close` ends its connection.
 */
export function podSources(opts: PodSourceOptions): { pods: PodLookup | null; close: () => void } {
  const sources: PodDirectory[] = [];
  let close = (): void => {};
  if (opts.criSocket) {
    const socket = opts.criSocket;
    const client = new CriClient(socket);
    const reader = new CriPodReader(client, (v) =>
      opts.onSource?.(`pods named by ${v.runtimeName} ${v.runtimeVersion} (CRI ${v.runtimeApiVersion}) at ${socket}`));
    let gaveUp: Error | null = null;
    const read = async (): Promise<Map<string, PodRef>> => {
      if (gaveUp) throw gaveUp;
      try {
        return await reader.read();
      } catch (e) {
        if (opts.criProbed && !reader.answered) {
          client.close();
          gaveUp = new Error(`${(e as Error).message}; found by probing, not asked again (choose with --cri-socket, or --no-cri-socket)`);
          throw gaveUp;
        }
        throw e;
      }
    };
    const dir = new PodDirectory(socket, { onError: opts.onError, minRefreshMs: opts.minRefreshMs, read });
    sources.push(dir);
    close = () => client.close();
    void dir.refresh();
  }
  if (opts.kubeletPods) sources.push(new PodDirectory(opts.kubeletPods, { onError: opts.onError, minRefreshMs: opts.minRefreshMs }));
  return { pods: sources.length === 0 ? null : sources.length === 1 ? sources[0] : new PodSources(sources), close };
}
