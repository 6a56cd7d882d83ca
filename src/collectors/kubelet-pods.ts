import { readFile } from 'node:fs/promises';
import type { PodRef } from '../model';

/** The kubelet's read-only port serves this (`--read-only-port`, 10255; often disabled). */
export const DEFAULT_KUBELET_PODS_URL = 'http://127.0.0.1:10255/pods';

export class KubeletPodsError extends Error {
  constructor(readonly source: string, message: string) {
    super(`kubelet pod list ${source}: ${message}`);
  }
}

interface ContainerStatus {
  name?: unknown;
  containerID?: unknown;
}

/**
 * Container id -> pod, from a PodList (`GET /pods` of the kubelet, or `kubectl get pods -o json`).
 * Ids are the runtime's, without the `containerd://` / `cri-o://` / `docker://` scheme, as
 * /proc/PID/cgroup shows them. Init and ephemeral containers are included. Pure.
 */
export function parsePodList(json: unknown): Map<string, PodRef> {
  const out = new Map<string, PodRef>();
  const items = (json as { items?: unknown })?.items;
  if (!Array.isArray(items)) throw new Error('not a PodList: no items array');
  for (const pod of items) {
    const meta = pod?.metadata;
    const status = pod?.status;
    if (typeof meta?.name !== 'string' || typeof meta?.namespace !== 'string') continue;
    const lists = [status?.containerStatuses, status?.initContainerStatuses, status?.ephemeralContainerStatuses];
    for (const list of lists) {
      if (!Array.isArray(list)) continue;
      for (const c of list as ContainerStatus[]) {
        if (typeof c?.containerID !== 'string' || typeof c.name !== 'string') continue;
        const sep = c.containerID.indexOf('://');
        const id = sep < 0 ? c.containerID : c.containerID.slice(sep + 3);
        if (id) out.set(id, { name: meta.name, namespace: meta.namespace, uid: typeof meta.uid === 'string' ? meta.uid : '', containerName: c.name });
      }
    }
  }
  return out;
}

/** Reads a PodList from an http(s) URL or a file (a path, or file:///...), with a timeout. */
export async function readKubeletPods(source: string, timeoutMs = 5000): Promise<Map<string, PodRef>> {
  let text: string;
  try {
    if (/^https?:\/\//.test(source)) {
      const res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } else {
      text = await readFile(source.startsWith('file://') ? new URL(source) : source, 'utf8');
    }
    return parsePodList(JSON.parse(text));
  } catch (e) {
    throw new KubeletPodsError(source, e instanceof Error ? e.message : String(e));
  }
}
