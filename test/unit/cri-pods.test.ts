import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCriContainers, type CriContainer } from '../../src/collectors';

const labels = (pod: string, ns: string, container?: string): Record<string, string> => ({
  'io.kubernetes.pod.name': pod, 'io.kubernetes.pod.namespace': ns, 'io.kubernetes.pod.uid': `${pod}-uid`,
  ...(container ? { 'io.kubernetes.container.name': container } : {}),
});

test('parseCriContainers: kubelet labels name the pod; other containers are left out', () => {
  const cases: { name: string; input: CriContainer[]; want: [string, unknown][] }[] = [
    { name: 'empty', input: [], want: [] },
    { name: 'a kubelet container', input: [{ id: 'a', labels: labels('web-0', 'shop', 'web') }],
      want: [['a', { name: 'web-0', namespace: 'shop', uid: 'web-0-uid', containerName: 'web' }]] },
    { name: 'container name from metadata when the label is missing', input: [{ id: 'b', labels: labels('p', 'n'), metadata: { name: 'meta' } }],
      want: [['b', { name: 'p', namespace: 'n', uid: 'p-uid', containerName: 'meta' }]] },
    { name: 'no labels (ctr run, Docker)', input: [{ id: 'c' }, { id: 'd', labels: {} }], want: [] },
    { name: 'a namespace but no pod name', input: [{ id: 'e', labels: { 'io.kubernetes.pod.namespace': 'n' } }], want: [] },
    { name: 'no id', input: [{ id: '', labels: labels('p', 'n', 'c') }], want: [] },
    { name: 'no uid label', input: [{ id: 'f', labels: { 'io.kubernetes.pod.name': 'p', 'io.kubernetes.pod.namespace': 'n' } }],
      want: [['f', { name: 'p', namespace: 'n', uid: '', containerName: '' }]] },
  ];
  for (const c of cases) assert.deepEqual([...parseCriContainers(c.input)], c.want, c.name);
});
