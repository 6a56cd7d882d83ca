import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { REST_ROUTES } from '../../src/server/rest';

// deploy/kubernetes, checked without a cluster: every document parses and validates against the
// Kubernetes (and Prometheus Operator) schemas bundled in kubernetes-models, and the DaemonSet
// holds to what its README promises. The schemas check types and required fields, not unknown
// field names: a misspelt optional field passes them.
const ROOT = join(__dirname, '..', '..', '..');
const DIR = join(ROOT, 'deploy', 'kubernetes');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;
const MODELS: Record<string, new (d: Doc) => { validate(): void }> = {
  'apps/v1 DaemonSet': DaemonSet,
  'v1 Namespace': Namespace,
  'v1 Secret': Secret,
  'v1 Service': Service,
  'monitoring.coreos.com/v1 ServiceMonitor': ServiceMonitor,
};

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const docs: { file: string; doc: Doc }[] = [];
for (const file of files) {
  for (const d of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
    assert.deepEqual(d.errors, [], `${file}: YAML errors`);
    const doc = d.toJS();
    if (doc !== null) docs.push({ file, doc });
  }
}
const one = (kind: string): Doc => {
  const found = docs.filter((d) => d.doc.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0].doc;
};
const ds = one('DaemonSet');
const pod = ds.spec.template.spec;
const container = pod.containers[0];
const SECRET = one('Secret').metadata.name as string;
const CAPABILITIES = ['BPF', 'DAC_READ_SEARCH', 'NET_ADMIN', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE'];

test('every manifest parses and validates against its schema, all in one namespace', () => {
  assert.deepEqual(files, ['daemonset.yaml', 'namespace.yaml', 'secret.example.yaml', 'service.yaml', 'servicemonitor.yaml']);
  for (const { file, doc } of docs) {
    const Model = MODELS[`${doc.apiVersion} ${doc.kind}`];
    assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} is invalid`);
    if (doc.kind !== 'Namespace') assert.equal(doc.metadata.namespace, one('Namespace').metadata.name, file);
  }
});

test('the validator does reject a wrong manifest', () => {
  const bad = structuredClone(ds);
  bad.spec.template.spec.hostPID = 'yes';
  assert.throws(() => new DaemonSet(bad).validate(), /hostPID/);
  const noSelector = structuredClone(one('ServiceMonitor'));
  delete noSelector.spec.selector;
  assert.throws(() => new ServiceMonitor(noSelector).validate(), /selector/);
});

test('DaemonSet: the host network and pid namespaces, exactly the documented capabilities, read-only root', () => {
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.hostPID, true);
  assert.equal(pod.containers.length, 1);
  const sc = container.securityContext;
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.deepEqual([...sc.capabilities.add].sort(), CAPABILITIES);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.notEqual(sc.privileged, true);
  // The API server refuses allowPrivilegeEscalation: false with SYS_ADMIN added.
  assert.notEqual(sc.allowPrivilegeEscalation, false);
  // Added capabilities reach the effective set only for uid 0.
  assert.equal(sc.runAsUser, 0);
  // Each capability is explained where it is granted and in the folder's README.
  const yamlText = readFileSync(join(DIR, 'daemonset.yaml'), 'utf8');
  const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
  for (const cap of CAPABILITIES) {
    assert.match(yamlText, new RegExp(`# ${cap}: `), `daemonset.yaml explains ${cap}`);
    assert.match(readme, new RegExp(`\\b${cap}\\b`), `README.md explains ${cap}`);
  }
});

test('DaemonSet: the data dir and /tmp are writable volumes, /run/netns read-only', () => {
  const args: string[] = container.args;
  const dataDir = args[args.indexOf('--data-dir') + 1];
  const mounts: Doc[] = container.volumeMounts;
  const volumes = new Map<string, Doc>(pod.volumes.map((v: Doc) => [v.name, v]));
  const at = (path: string): Doc => mounts.find((m) => m.mountPath === path);
  for (const path of [dataDir, '/tmp']) {
    assert.ok(at(path), `${path} is mounted`);
    assert.notEqual(at(path).readOnly, true, path);
    assert.ok(volumes.get(at(path).name).emptyDir || volumes.get(at(path).name).hostPath, path);
  }
  assert.equal(at('/run/netns').readOnly, true);
  assert.equal(volumes.get(at('/run/netns').name).hostPath.path, '/run/netns');
  for (const m of mounts) assert.ok(volumes.has(m.name), `volume ${m.name}`);
});

test("DaemonSet: pods from the runtime's CRI socket, its host directory mounted read-only where TCPDIR_CRI_SOCKET says", () => {
  const env = (name: string): Doc => container.env.find((e: Doc) => e.name === name);
  const socket: string = env('TCPDIR_CRI_SOCKET').value;
  // The directory, not the socket file: a file bind mount keeps the inode of the socket the
  // runtime had when the pod started, and a restarted runtime makes a new one.
  const dir = socket.slice(0, socket.lastIndexOf('/'));
  const mount = container.volumeMounts.find((m: Doc) => m.mountPath === dir);
  assert.ok(mount, `${dir} is mounted`);
  assert.equal(mount.readOnly, true);
  const volume = pod.volumes.find((v: Doc) => v.name === mount.name);
  assert.deepEqual(volume.hostPath, { path: dir, type: 'Directory' });
  assert.equal(env('TCPDIR_KUBELET_PODS_URL'), undefined, 'one pod source: the kubelet list is the documented alternative');
  assert.ok(read('src/cli/main.ts').includes('process.env.TCPDIR_CRI_SOCKET'), 'the CLI reads the variable');
  // The README says what the socket grants, and offers the narrower source.
  const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
  assert.match(readme, /whole API/);
  assert.match(readme, /TCPDIR_KUBELET_PODS_URL/);
});

test('DaemonSet: listens beyond loopback with a token from the Secret', () => {
  const args: string[] = container.args;
  assert.equal(args[0], 'serve');
  const host = args[args.indexOf('--host') + 1];
  assert.ok(host && !/^(127\.|localhost$|::1$)/.test(host), host);
  if (host === '$(POD_IP)') assert.equal(container.env.find((e: Doc) => e.name === 'POD_IP').valueFrom.fieldRef.fieldPath, 'status.podIP');
  assert.ok(!args.includes('--token'), 'the token is not on the command line');
  const token = container.env.find((e: Doc) => e.name === 'TCPDIR_TOKEN');
  assert.deepEqual(token.valueFrom.secretKeyRef, { name: SECRET, key: 'token' });
  assert.equal(Object.keys(one('Secret').stringData ?? one('Secret').data).join(), 'token');
});

test('DaemonSet: peer agents are the headless Service by name, with cluster DNS and the same token', () => {
  const svc = one('Service');
  assert.equal(svc.spec.clusterIP, 'None', 'headless: its name resolves to every agent');
  const env = (name: string): Doc => container.env.find((e: Doc) => e.name === name);
  const peers = new URL(env('TCPDIR_PEERS').value);
  assert.equal(peers.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  assert.equal(Number(peers.port), svc.spec.ports[0].port);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', 'a host-network pod needs it for cluster names');
  assert.deepEqual(env('TCPDIR_PEER_TOKEN').valueFrom.secretKeyRef, { name: SECRET, key: 'token' });
});

test('DaemonSet: probes ask routes the server has; readiness waits for a snapshot', () => {
  const serverSrc = read('src/server/create-server.ts');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.match(serverSrc, /app\.get\('\/healthz'/);
  assert.match(read('src/server/auth.ts'), /OPEN_PATHS = new Set\(\['\/healthz'\]\)/, 'the liveness probe needs no token');
  const script: string = container.readinessProbe.exec.command.join(' ');
  const paths = script.match(/\/api\/v1\/[a-z/-]+/g) ?? [];
  assert.deepEqual(paths, ['/api/v1/host']);
  assert.ok(REST_ROUTES.some((r) => r.path === '/api/v1/host'));
  const port = container.ports.find((p: Doc) => p.name === container.livenessProbe.httpGet.port).containerPort;
  const args: string[] = container.args;
  assert.equal(String(port), args[args.indexOf('--port') + 1]);
  assert.ok(script.includes(`:${port}/`));
});

test('the readiness probe script: 0 with the bearer token and a 200, 1 otherwise', async () => {
  const command: string[] = container.readinessProbe.exec.command;
  assert.equal(command[0], 'node');
  let status = 200;
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.url} ${req.headers.authorization}`);
    res.statusCode = req.headers.authorization === 'Bearer s3cret' ? status : 401;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const script = command[2].replace(':4000/', `:${port}/`);
  const run = (token: string) => new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, POD_IP: '127.0.0.1', TCPDIR_TOKEN: token }, stdio: 'ignore',
    });
    child.on('exit', (code: number | null) => resolve(code));
  });
  try {
    assert.equal(await run('s3cret'), 0);
    assert.equal(await run('wrong'), 1);
    status = 503;
    assert.equal(await run('s3cret'), 1);
  } finally {
    server.close();
  }
  assert.equal(seen[0], '/api/v1/host Bearer s3cret');
});

test('DaemonSet: requests and limits set, requests within limits', () => {
  const { requests, limits } = container.resources;
  const mi = (q: string): number => (q.endsWith('Mi') ? Number(q.slice(0, -2)) : q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : NaN);
  const cpu = (q: string): number => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));
  assert.ok(mi(requests.memory) <= mi(limits.memory));
  assert.ok(cpu(requests.cpu) <= cpu(limits.cpu));
  // Every peak RSS docs/benchmarks.md reports ("peak N MiB", "before -> N MiB") fits under the limit.
  const peaks = [...read('docs/benchmarks.md').matchAll(/(?:peak|->) (\d+) MiB/g)].map((m) => Number(m[1]));
  assert.ok(peaks.length >= 3, 'benchmarks.md reports peak RSS');
  assert.ok(mi(limits.memory) >= Math.max(...peaks), `limit ${limits.memory} under a measured peak of ${Math.max(...peaks)} MiB`);
});

test('Service and ServiceMonitor: select the pods, scrape /metrics on the named port with the token', () => {
  const svc = one('Service');
  const sm = one('ServiceMonitor');
  const podLabels = ds.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(podLabels[k], v);
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v);
  assert.deepEqual(sm.spec.namespaceSelector.matchNames, [svc.metadata.namespace]);
  const portName = svc.spec.ports[0].name;
  assert.ok(container.ports.some((p: Doc) => p.name === svc.spec.ports[0].targetPort));
  assert.equal(sm.spec.endpoints.length, 1);
  const ep = sm.spec.endpoints[0];
  assert.equal(ep.port, portName);
  assert.equal(ep.path, '/metrics');
  assert.match(read('src/server/metrics.ts'), /app\.get\('\/metrics'/);
  assert.deepEqual(ep.authorization, { type: 'Bearer', credentials: { name: SECRET, key: 'token' } });
});

test('deploy/kubernetes/README.md: its relative links resolve, and the project README points at it', () => {
  const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
  for (const m of readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
    if (/^[a-z]+:/.test(m[1])) continue;
    assert.ok(existsSync(join(DIR, m[1])), `links to ${m[1]}`);
  }
  assert.ok(read('README.md').includes('(deploy/kubernetes/README.md)'));
});
