// Pods: a process in its own network namespace and in a cgroup named as containerd names a
// container's (cri-containerd-<id>.scope), a fake kubelet serving a PodList that names that id,
// and tcpdir reading every namespace with --kubelet-pods-url. Netns.pod, Connection.pod, REST
// /api/v1/namespaces and the OTLP log records of the process's connection must name the pod,
// its namespace and the container; a namespace the list does not name has no pod.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createServer } from '../../src';
import { OtlpReceiver } from '../helpers/otlp-receiver';
import { assertPodNamed, CONTAINER_SKIP, containerScope, startContainerProcess, stopContainerProcess } from './container';
import { addNamespace, deleteNamespace } from './netns';

const skip = CONTAINER_SKIP;
if (skip) console.log(`# pods suite skipped: ${skip}`);


describe('pods from the kubelet pod list', { skip: skip ?? false, timeout: 60_000 }, () => {
  test('a container in its own cgroup and netns is named by pod on Netns, Connection, REST and OTLP', async () => {
    const id = randomBytes(32).toString('hex');
    const uid = randomUUID();
    const { scope, remove: removeScope } = containerScope(id);
    const ns = addNamespace(`pod-${randomBytes(3).toString('hex')}`);
    // A real-shaped PodList (the kubelet's GET /pods), with another pod around the one we mean.
    const podList = {
      kind: 'PodList', apiVersion: 'v1', metadata: {},
      items: [
        { metadata: { name: 'other-0', namespace: 'kube-system', uid: randomUUID() },
          status: { phase: 'Running', containerStatuses: [{ name: 'other', containerID: `containerd://${randomBytes(32).toString('hex')}`, ready: true, restartCount: 0, image: 'x', imageID: 'x' }] } },
        { metadata: { name: 'web-7d4b9c-x2k8q', namespace: 'shop', uid, labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx' }], initContainers: [{ name: 'init', image: 'busybox' }] },
          status: {
            phase: 'Running', podIP: '10.0.0.7',
            initContainerStatuses: [{ name: 'init', containerID: `containerd://${randomBytes(32).toString('hex')}`, state: { terminated: { exitCode: 0 } } }],
            containerStatuses: [{ name: 'web', containerID: `containerd://${id}`, ready: true, restartCount: 0, image: 'nginx', imageID: 'x', state: { running: {} } }],
          } },
      ],
    };
    let kubeletReads = 0;
    const kubelet = http.createServer((req, res) => {
      if (req.url !== '/pods') return void res.writeHead(404).end();
      kubeletReads++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(podList));
    });
    await new Promise<void>((r) => kubelet.listen(0, '127.0.0.1', r));
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    let child: ChildProcess | null = null;
    const app = await createServer({
      logLevel: 'silent', maxAgeMs: 0, allNamespaces: true, recordHistory: { path: ':memory:', intervalMs: 200 },
      kubeletPods: `http://127.0.0.1:${(kubelet.address() as AddressInfo).port}/pods`,
      otlp: { endpoint, scheduledDelayMillis: 50, metricIntervalMillis: 60_000, maxQueueSize: 100_000 },
    });
    try {
      const started = await startContainerProcess(scope, ns, id);
      child = started.child;
      const { serverPort, clientPort } = started;

      const pod = { name: 'web-7d4b9c-x2k8q', namespace: 'shop', uid, containerName: 'web' };
      const netnsId = await assertPodNamed(app.server, { ns, id, pod, serverPort, clientPort });
      const host = await request(app.server).post('/graphql').send({ query: '{ connections(limit: 5) { netns pod { name } } }' });
      for (const c of host.body.data.connections as { netns: string; pod: unknown }[]) if (c.netns !== netnsId) assert.equal(c.pod, null);
      assert.ok(kubeletReads >= 1 && kubeletReads <= 3, `the pod list read once per refresh, not per lookup: ${kubeletReads}`);

      // OTLP: once a snapshot has placed the connection in its namespace, its records name the pod.
      started.child.stdin!.write('\n');
      const closed = await (async () => {
        for (let i = 0; i < 200; i++) {
          const c = receiver.logs.filter((l) => l.eventName === 'tcpdir.connection.closed' && l.attributes['network.local.port'] === serverPort);
          if (c.length) return c[0];
          await new Promise((res) => setTimeout(res, 50));
        }
        throw new Error('no CLOSED record for the pod connection');
      })();
      assert.equal(closed.attributes['tcpdir.netns'], netnsId);
      assert.equal(closed.attributes['container.id'], id);
      assert.equal(closed.attributes['container.runtime'], 'containerd');
      assert.equal(closed.attributes['k8s.pod.name'], pod.name);
      assert.equal(closed.attributes['k8s.namespace.name'], pod.namespace);
      assert.equal(closed.attributes['k8s.container.name'], pod.containerName);
      assert.equal(closed.attributes['k8s.pod.uid'], uid);
      assert.equal(closed.attributes['tcpdir.direction'], 'INBOUND');
    } finally {
      await stopContainerProcess(child);
      await app.close();
      await receiver.stop();
      kubelet.close();
      deleteNamespace(ns);
      removeScope();
    }
  });
});
