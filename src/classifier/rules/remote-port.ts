import type { Rule } from '../rule';

// The peer's port says what the peer is. A well-known port (< 1024) or a registered service port
// on the far side means we reached a service: outbound. A port in the ranges operating systems
// hand to clients (Linux 32768-60999, IANA/Windows/BSD 49152-65535) means the peer is a client:
// inbound. Services do listen in 32768-65535 too, hence the modest weights. An unregistered
// port in 1024-32767 leans weakly outbound: outside the client ranges, it is more often a
// service's than a client's (NAT gateways do hand clients such ports, hence the small weight).
export const WELL_KNOWN_WEIGHT = 1.5;
export const REGISTERED_WEIGHT = 1;
export const PEER_EPHEMERAL_WEIGHT = 1;
export const PEER_MIDRANGE_WEIGHT = 0.5;

/** Registered ports of services commonly reached over TCP (IANA registry and de-facto defaults). */
const SERVICE_PORTS = new Map<number, string>([
  [1080, 'socks'], [1433, 'mssql'], [1521, 'oracle'], [1883, 'mqtt'], [2049, 'nfs'], [2181, 'zookeeper'],
  [2379, 'etcd'], [2380, 'etcd-peer'], [3000, 'http-dev'], [3128, 'squid'], [3306, 'mysql'], [3389, 'rdp'],
  [4222, 'nats'], [4317, 'otlp-grpc'], [4318, 'otlp-http'], [5000, 'http-dev'], [5044, 'beats'], [5432, 'postgresql'],
  [5601, 'kibana'], [5672, 'amqp'], [5900, 'vnc'], [5984, 'couchdb'], [6379, 'redis'], [6443, 'kube-apiserver'],
  [7000, 'cassandra'], [7001, 'cassandra-tls'], [8000, 'http-alt'], [8008, 'http-alt'], [8080, 'http-alt'],
  [8081, 'http-alt'], [8086, 'influxdb'], [8088, 'http-alt'], [8200, 'vault'], [8300, 'consul'], [8443, 'https-alt'],
  [8500, 'consul-http'], [8883, 'mqtt-tls'], [8888, 'http-alt'], [9000, 'http-alt'], [9042, 'cassandra-cql'],
  [9090, 'prometheus'], [9092, 'kafka'], [9093, 'alertmanager'], [9100, 'node-exporter'], [9200, 'elasticsearch'],
  [9300, 'elasticsearch-transport'], [9418, 'git'], [10250, 'kubelet'], [11211, 'memcached'], [15672, 'rabbitmq-mgmt'],
  [27017, 'mongodb'], [50051, 'grpc'],
]);

export function servicePortName(port: number): string | null {
  return SERVICE_PORTS.get(port) ?? null;
}

export const remotePort: Rule = {
  name: 'remote-port',
  favors: 'EITHER',
  weight: WELL_KNOWN_WEIGHT,
  why: `Peer port below 1024: outbound (${WELL_KNOWN_WEIGHT}); a registered service port: outbound (${REGISTERED_WEIGHT}); a port in the client ranges 32768-65535: inbound (${PEER_EPHEMERAL_WEIGHT}); another port in 1024-32767: outbound (${PEER_MIDRANGE_WEIGHT}).`,
  score(conn) {
    const p = conn.remotePort;
    if (p === 0) return 0;
    if (p < 1024) return -WELL_KNOWN_WEIGHT;
    if (SERVICE_PORTS.has(p)) return -REGISTERED_WEIGHT;
    return p >= 32768 ? PEER_EPHEMERAL_WEIGHT : -PEER_MIDRANGE_WEIGHT;
  },
  detail(conn) {
    const p = conn.remotePort;
    if (p < 1024) return `the peer's port ${p} is a well-known service port`;
    const name = SERVICE_PORTS.get(p);
    if (name) return `the peer's port ${p} is a registered service port (${name})`;
    if (p >= 32768) return `the peer's port ${p} is in the range systems give to clients`;
    return `the peer's port ${p} is outside the client ranges, more often a service's`;
  },
};
