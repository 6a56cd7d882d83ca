import { registerEnumType } from 'type-graphql';
import type { SourceName } from '../model';

const VALUES = {
  EBPF: { description: "The eBPF socket iterator (with the kernel's own facts about each socket)." },
  NETLINK: { description: 'sock_diag over netlink: socket cookies and tcp_info.' },
  PROCFS: { description: '/proc/net/tcp{,6}: no cookies, no tcp_info.' },
};

export enum SocketSource {
  EBPF = 'EBPF',
  NETLINK = 'NETLINK',
  PROCFS = 'PROCFS',
}

registerEnumType(SocketSource, { name: 'SocketSource', description: 'Where the sockets of a snapshot were read from.', valuesConfig: VALUES });

export enum NetnsSource {
  EBPF = 'EBPF',
  NETLINK = 'NETLINK',
  PROCFS = 'PROCFS',
  NONE = 'NONE',
}

registerEnumType(NetnsSource, {
  name: 'NetnsSource',
  description: "Where a namespace's sockets were read from, or NONE when they could not be read.",
  valuesConfig: {
    EBPF: { description: 'The eBPF socket iterator, run inside the namespace.' },
    NETLINK: { description: 'sock_diag inside the namespace: socket cookies and tcp_info.' },
    PROCFS: { description: '/proc/PID/net/tcp{,6} of a process in it: no cookies, no tcp_info.' },
    NONE: { description: 'Not read; reason says why.' },
  },
});

/** The model's source name ('netlink') as the GraphQL enum value (NETLINK). */
export function socketSource(s: SourceName): SocketSource {
  return s.toUpperCase() as SocketSource;
}

export function netnsSource(s: SourceName | 'none'): NetnsSource {
  return s.toUpperCase() as NetnsSource;
}
