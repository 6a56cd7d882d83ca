import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as Grpc from '@grpc/grpc-js';
import type { PodRef } from '../model';

/** The CRI's RuntimeService, vendored (a subset of k8s.io/cri-api runtime/v1; see the file's header). */
export const CRI_PROTO = join(__dirname, '..', '..', '..', 'proto', 'cri-api', 'api.proto');

/** Where containerd, CRI-O and cri-dockerd put their CRI socket by default. */
export const DEFAULT_CRI_SOCKETS: readonly string[] = ['/run/containerd/containerd.sock', '/run/crio/crio.sock', '/var/run/cri-dockerd.sock'];

/** Labels the kubelet puts on every container it asks the runtime to create. */
const LABEL = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
} as const;

export type CriErrorKind = 'missing' | 'denied' | 'not-cri' | 'timeout' | 'unreachable';

export class CriError extends Error {
  constructor(readonly socket: string, readonly kind: CriErrorKind, message: string) {
    super(`CRI runtime at ${socket}: ${message}`);
  }
}

/** A runtime.v1 Container as @grpc/proto-loader decodes it (camelCase fields, maps as objects). */
export interface CriContainer {
  id: string;
  labels?: Record<string, string>;
  metadata?: { name?: string } | null;
}

export interface CriVersion {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

/**
 * Container id -> pod, from the labels the kubelet sets on each container (containers the
 * kubelet did not create, e.g. `ctr run` or Docker's own, have none and are left out). The ids
 * are the runtime's, as /proc/PID/cgroup shows them. Pure.
 */
export function parseCriContainers(containers: readonly CriContainer[]): Map<string, PodRef> {
  const out = new Map<string, PodRef>();
  for (const c of containers) {
    const l = c.labels ?? {};
    const name = l[LABEL.podName];
    const namespace = l[LABEL.podNamespace];
    if (!c.id || !name || !namespace) continue;
    out.set(c.id, { name, namespace, uid: l[LABEL.podUid] ?? '', containerName: l[LABEL.containerName] ?? c.metadata?.name ?? '' });
  }
  return out;
}

/** The first of the runtimes' usual sockets that exists here, or null. Looks at the paths only. */
export function findCriSocket(candidates: readonly string[] = DEFAULT_CRI_SOCKETS): string | null {
  for (const p of candidates) {
    try {
      if (statSync(p).isSocket()) return p;
    } catch {
      // Absent: the next one.
    }
  }
  return null;
}

type Unary<Req, Res> = (req: Req, opts: Grpc.CallOptions, cb: (err: Grpc.ServiceError | null, res?: Res) => void) => void;
interface RuntimeServiceClient extends Grpc.Client {
  Version: Unary<{ version: string }, CriVersion>;
  ListContainers: Unary<Record<string, never>, { containers?: CriContainer[] }>;
}

let loaded: { grpc: typeof Grpc; RuntimeService: Grpc.ServiceClientConstructor } | null = null;

/** gRPC and the proto are loaded on first use: a tcpdir without a CRI socket never pays for them. */
function load(): NonNullable<typeof loaded> {
  if (!loaded) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const grpc = require('@grpc/grpc-js') as typeof Grpc;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protoLoader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
    const def = protoLoader.loadSync(CRI_PROTO, { longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: Grpc.ServiceClientConstructor } } };
    loaded = { grpc, RuntimeService: pkg.runtime.v1.RuntimeService };
  }
  return loaded;
}

/** A gRPC status or a connection failure, as one line that says what to do. */
function criError(socket: string, method: string, timeoutMs: number, e: Grpc.ServiceError): CriError {
  const { grpc } = load();
  // grpc-js says a failed connection as "No connection established. Last error: X (time). Resolution note: ".
  const details = (e.details || e.message).replace(/^No connection established\. Last error: (.*?)(?: \(\d{4}-[^)]*\))?\. Resolution note:.*$/s, '$1').trim();
  if (/\bE(ACCES|PERM)\b/.test(details)) return new CriError(socket, 'denied', 'permission denied (the socket is root-owned: run tcpdir as root or in the socket\'s group)');
  if (/\bENOENT\b/.test(details)) return new CriError(socket, 'missing', 'no such socket (is the runtime running there?)');
  if (e.code === grpc.status.DEADLINE_EXCEEDED) return new CriError(socket, 'timeout', `${method} not answered within ${timeoutMs} ms`);
  if (e.code === grpc.status.UNIMPLEMENTED) return new CriError(socket, 'not-cri', `not a CRI v1 runtime (${method}: unimplemented; is its CRI plugin off?)`);
  // Something else listens there (an HTTP/1 API such as docker.sock, or no gRPC at all).
  if (e.code === grpc.status.INTERNAL || /protocol|http2|unexpected|parse|frame/i.test(details)) return new CriError(socket, 'not-cri', `not a CRI server (${method}: ${details})`);
  return new CriError(socket, 'unreachable', `${method}: ${details}`);
}

/** A client of one runtime's CRI socket: RuntimeService Version and ListContainers, each with a deadline. */
export class CriClient {
  private client: RuntimeServiceClient | null = null;

  constructor(readonly socket: string, private readonly timeoutMs = 5000) {}

  version(): Promise<CriVersion> {
    return this.call('Version', (c, o, cb) => c.Version({ version: 'v1' }, o, cb));
  }

  async listContainers(): Promise<CriContainer[]> {
    const res = await this.call<{ containers?: CriContainer[] }>('ListContainers', (c, o, cb) => c.ListContainers({}, o, cb));
    return res.containers ?? [];
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }

  private async call<T>(method: string, run: (c: RuntimeServiceClient, o: Grpc.CallOptions, cb: (err: Grpc.ServiceError | null, res?: T) => void) => void): Promise<T> {
    // A path that is absent or no socket is said as such, not as gRPC's "No connection established".
    try {
      if (!(await stat(this.socket)).isSocket()) throw new CriError(this.socket, 'not-cri', 'not a socket');
    } catch (e) {
      if (e instanceof CriError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new CriError(this.socket, code === 'EACCES' ? 'denied' : 'missing', code === 'EACCES' ? 'permission denied on its directory' : 'no such socket (is the runtime running, and the socket mounted?)');
    }
    const { grpc, RuntimeService } = load();
    this.client ??= new RuntimeService(`unix:${this.socket}`, grpc.credentials.createInsecure(), {
      // As the kubelet allows: a node with hundreds of containers answers ListContainers in MBs.
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    }) as unknown as RuntimeServiceClient;
    const client = this.client;
    return new Promise<T>((resolve, reject) => {
      run(client, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(criError(this.socket, method, this.timeoutMs, err));
        else resolve(res as T);
      });
    });
  }
}

/**
 * Pods from a runtime's CRI socket: Version once (until it answers: a wrong socket is said as
 * such before anything else), then ListContainers on every read.
 */
export class CriPodReader {
  private version: CriVersion | null = null;

  constructor(readonly client: CriClient, private readonly onVersion?: (v: CriVersion) => void) {}

  /** Whether the runtime ever answered Version. */
  get answered(): boolean {
    return this.version !== null;
  }

  async read(): Promise<Map<string, PodRef>> {
    if (!this.version) {
      this.version = await this.client.version();
      this.onVersion?.(this.version);
    }
    return parseCriContainers(await this.client.listContainers());
  }
}
