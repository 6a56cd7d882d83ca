// One connection event as an OTLP log record. Attribute names follow the OpenTelemetry semantic
// conventions where one exists (network.*, client.*/server.*, process.*, container.*, k8s.*);
// what they have no name for is under tcpdir.*. Pure.
import type { AnyValueMap } from '@opentelemetry/api-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { LifeEvent } from '../history';
import type { ContainerRef, PodRef } from '../model';

export interface ConnectionLogRecord {
  eventName: string;
  timestamp: number;
  severityNumber: SeverityNumber;
  severityText: string;
  body: string;
  attributes: AnyValueMap;
}

const EVENT_NAMES = { OPENED: 'tcpdir.connection.opened', CLOSED: 'tcpdir.connection.closed', VERDICT_CHANGED: 'tcpdir.connection.verdict_changed' } as const;

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function connectionLogRecord(e: LifeEvent, container: ContainerRef | null, pod: PodRef | null): ConnectionLogRecord {
  const l = e.life;
  const a: AnyValueMap = {
    'network.transport': 'tcp',
    'network.type': l.family === 'IPV6' ? 'ipv6' : 'ipv4',
    'network.local.address': l.localAddress,
    'network.local.port': l.localPort,
    'network.peer.address': l.remoteAddress,
    'network.peer.port': l.remotePort,
    'tcpdir.direction': l.direction,
    'tcpdir.confidence': l.confidence,
    'tcpdir.certain': l.certain,
    'tcpdir.observed_by': l.observedBy,
    'tcpdir.pre_existing': l.preExisting,
  };
  // client.* is the side that connected, server.* the side that accepted: known only with a direction.
  if (l.direction === 'INBOUND') {
    Object.assign(a, { 'client.address': l.remoteAddress, 'client.port': l.remotePort, 'server.address': l.localAddress, 'server.port': l.localPort });
  } else if (l.direction === 'OUTBOUND') {
    Object.assign(a, { 'client.address': l.localAddress, 'client.port': l.localPort, 'server.address': l.remoteAddress, 'server.port': l.remotePort });
  }
  if (l.rule !== null) a['tcpdir.rule'] = l.rule;
  if (l.netns !== null) a['tcpdir.netns'] = l.netns;
  if (l.pid !== null) a['process.pid'] = l.pid;
  if (l.command !== null) a['process.command'] = l.command;
  if (l.openedAt !== null) a['tcpdir.connection.opened_at'] = new Date(l.openedAt).toISOString();
  if (l.closedAt !== null) a['tcpdir.connection.closed_at'] = new Date(l.closedAt).toISOString();
  if (l.closedAt !== null && l.openedAt !== null) a['tcpdir.connection.duration'] = (l.closedAt - l.openedAt) / 1000;
  if (l.bytesSent !== null) a['tcpdir.connection.bytes_sent'] = l.bytesSent;
  if (l.bytesReceived !== null) a['tcpdir.connection.bytes_received'] = l.bytesReceived;
  if (l.retransmits !== null) a['tcpdir.connection.retransmits'] = l.retransmits;
  if (container) {
    a['container.id'] = container.id;
    a['container.runtime'] = container.runtime;
    if (container.podUid) a['k8s.pod.uid'] = container.podUid;
  }
  if (pod) {
    a['k8s.pod.name'] = pod.name;
    a['k8s.namespace.name'] = pod.namespace;
    a['k8s.container.name'] = pod.containerName;
    if (pod.uid) a['k8s.pod.uid'] = pod.uid;
  }
  const arrow = l.direction === 'INBOUND' ? '<-' : l.direction === 'OUTBOUND' ? '->' : '--';
  return {
    eventName: EVENT_NAMES[e.type],
    timestamp: e.at,
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: `${e.type} ${l.direction} ${endpoint(l.localAddress, l.localPort)} ${arrow} ${endpoint(l.remoteAddress, l.remotePort)}`,
    attributes: a,
  };
}
