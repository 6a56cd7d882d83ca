// A container runtime's CRI endpoint for tests: a real gRPC server (grpc-js) on a unix socket,
// serving runtime.v1.RuntimeService Version and ListContainers from the vendored proto, with the
// containers the test gives. Counts the calls it answers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CRI_PROTO, type CriContainer } from '../../src/collectors';

export interface FakeContainer extends CriContainer {
  podSandboxId?: string;
  state?: 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
}

/** The service definition of the vendored proto (for a server: the same file the client reads). */
export function runtimeServiceDefinition(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(CRI_PROTO, { longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
  return pkg.runtime.v1.RuntimeService.service;
}

export class FakeCriRuntime {
  readonly dir = mkdtempSync(join(tmpdir(), 'tcpdir-cri-'));
  readonly socket = join(this.dir, 'cri.sock');
  readonly calls = { Version: 0, ListContainers: 0 };
  private readonly server = new grpc.Server();

  constructor(public containers: FakeContainer[] = [], private readonly runtimeName = 'fake-runtime') {
    this.server.addService(runtimeServiceDefinition(), {
      Version: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.calls.Version++;
        cb(null, { version: '0.1.0', runtimeName: this.runtimeName, runtimeVersion: '9.9.9', runtimeApiVersion: 'v1' });
      },
      ListContainers: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.calls.ListContainers++;
        cb(null, { containers: this.containers.map((c) => ({ state: 'CONTAINER_RUNNING', podSandboxId: 'sandbox', ...c })) });
      },
    });
  }

  start(): Promise<string> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`unix:${this.socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve(this.socket))));
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The labels the kubelet sets on a container it creates. */
export function kubeletLabels(pod: { name: string; namespace: string; uid: string }, container: string): Record<string, string> {
  return {
    'io.kubernetes.pod.name': pod.name,
    'io.kubernetes.pod.namespace': pod.namespace,
    'io.kubernetes.pod.uid': pod.uid,
    'io.kubernetes.container.name': container,
  };
}
