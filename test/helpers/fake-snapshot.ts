import type { Snapshot, Socket } from '../../src/model';

let next = 1;

/** A socket for pure classifier tests; anything not given takes a neutral default. */
export function sock(p: Partial<Socket> & Pick<Socket, 'localAddress' | 'localPort'>): Socket {
  const id = String(next++);
  const family = p.family ?? (p.localAddress.includes(':') ? 'IPV6' : 'IPV4');
  return {
    id,
    cookie: id,
    family,
    state: 'ESTABLISHED',
    remoteAddress: family === 'IPV4' ? '0.0.0.0' : '::',
    remotePort: 0,
    inode: 1000 + next,
    uid: 0,
    timer: 0,
    retrans: 0,
    expiresMs: 0,
    rqueue: 0,
    wqueue: 0,
    v6only: null,
    tcpInfo: null,
    ...p,
  };
}

export function listen(addr: string, port: number, extra: Partial<Socket> = {}): Socket {
  return sock({ localAddress: addr, localPort: port, state: 'LISTEN', v6only: addr.includes(':') ? false : null, ...extra });
}

export function snap(sockets: Socket[], extra: Partial<Snapshot> = {}): Snapshot {
  return {
    source: 'netlink',
    fallbackReason: null,
    collectedAt: 0,
    durationMs: 0,
    host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [], netns: 'net:[1]' },
    sockets,
    processes: null,
    ...extra,
  };
}
