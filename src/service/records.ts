import type { AddressFamily, Socket, TcpStateName } from '../model';

export interface EndpointRecord {
  address: string;
  port: number;
}

/** A connection as the API shows it; `view` and `index` stay server-side (GraphQL lists fields). */
export interface ConnectionRecord {
  id: string;
  family: AddressFamily;
  state: TcpStateName;
  local: EndpointRecord;
  remote: EndpointRecord;
  /** Kernel inode as a string (it can exceed 2^31); null when 0 (no file descriptor). */
  inode: string | null;
  /** Owner uid; null when the kernel reports none (TIME_WAIT and request sockets). */
  uid: number | null;
  socket: Socket;
  index: number;
}

export interface ListenerRecord {
  id: string;
  family: AddressFamily;
  local: EndpointRecord;
  /** An IPv6 wildcard listener that also accepts IPv4 (not V6ONLY). */
  dualStack: boolean;
  inode: string | null;
  socket: Socket;
}

export function connectionRecord(s: Socket, index: number): ConnectionRecord {
  const noOwner = s.inode === 0;
  return {
    id: s.id,
    family: s.family,
    state: s.state,
    local: { address: s.localAddress, port: s.localPort },
    remote: { address: s.remoteAddress, port: s.remotePort },
    inode: noOwner ? null : String(s.inode),
    uid: noOwner && s.uid === 0 ? null : s.uid,
    socket: s,
    index,
  };
}

export function listenerRecord(s: Socket): ListenerRecord {
  return {
    id: s.id,
    family: s.family,
    local: { address: s.localAddress, port: s.localPort },
    dualStack: s.family === 'IPV6' && s.localAddress === '::' && s.v6only !== true,
    inode: s.inode === 0 ? null : String(s.inode),
    socket: s,
  };
}
