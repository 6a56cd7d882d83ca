import { readFileSync, readlinkSync } from 'node:fs';
import type { Attributes } from '@opentelemetry/api';
import { defaultResource, detectResources, envDetector, hostDetector, processDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { parseCgroupContainer, parseNetnsLink } from '../collectors';
import type { TcpdirService } from '../service';
import { VERSION } from '../server/version';

/** tcpdir's own network namespace and container (the agent's, not the connections'), when readable. */
function selfAttributes(): Attributes {
  const a: Attributes = {};
  try {
    const ns = parseNetnsLink(readlinkSync('/proc/self/ns/net'));
    if (ns) a['tcpdir.netns'] = ns;
  } catch {
    // no /proc
  }
  try {
    const c = parseCgroupContainer(readFileSync('/proc/self/cgroup', 'latin1'));
    if (c) {
      a['container.id'] = c.id;
      a['container.runtime'] = c.runtime;
      if (c.podUid) a['k8s.pod.uid'] = c.podUid;
    }
  } catch {
    // no /proc
  }
  return a;
}

/**
 * The agent's resource: the SDK's defaults (telemetry.sdk.*), host.* and process.* detected,
 * service.name "tcpdir" and service.version, its netns and container, its pod when the kubelet's
 * list names it; then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win (the DaemonSet
 * passes k8s.node.name, k8s.pod.name and k8s.namespace.name through them).
 */
export async function agentResource(service: TcpdirService): Promise<Resource> {
  const own = selfAttributes();
  if (service.pods && typeof own['container.id'] === 'string') {
    const pod = await service.pods.lookup(own['container.id']);
    if (pod) Object.assign(own, { 'k8s.pod.name': pod.name, 'k8s.namespace.name': pod.namespace, 'k8s.container.name': pod.containerName, 'k8s.pod.uid': pod.uid });
  }
  return defaultResource()
    .merge(detectResources({ detectors: [hostDetector, processDetector] }))
    .merge(resourceFromAttributes({ 'service.name': 'tcpdir', 'service.version': VERSION, ...own }))
    .merge(detectResources({ detectors: [envDetector] }));
}
