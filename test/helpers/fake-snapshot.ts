import { kernelBirthIndex, kernelRecordIndex, type KernelBirth, type KernelEvidence, type KernelRecord, type Snapshot, type Socket } from '../../src/model';

let next = 1;

/** A socket for pure classifier tests; anything not given takes a neutral default. */
export function sock(p: Partial<Socket> & Pick<Socket, 'localAddress' | 'localPort'>): Socket {
  const id = String(next++);
  const family = p.family ?? (p.localAddress.includes(':') ? 'IPV6' : 'IPV4');
  // One literal with every field in model order, so every socket shares one hidden class as
  // the collectors' do (spread objects would not, and would distort timings).
  return {
    id: p.id ?? id,
    cookie: p.cookie === undefined ? id : p.cookie,
    family,
    state: p.state ?? 'ESTABLISHED',
    localAddress: p.localAddress,
    localPort: p.localPort,
    remoteAddress: p.remoteAddress ?? (family === 'IPV4' ? '0.0.0.0' : '::'),
    remotePort: p.remotePort ?? 0,
    inode: p.inode ?? 1000 + next,
    uid: p.uid ?? 0,
    timer: p.timer ?? 0,
    retrans: p.retrans ?? 0,
    expiresMs: p.expiresMs ?? 0,
    rqueue: p.rqueue ?? 0,
    wqueue: p.wqueue ?? 0,
    v6only: p.v6only ?? null,
    tcpInfo: p.tcpInfo ?? null,
    netns: p.netns ?? null,
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

/** A kernel (eBPF) record for `s` with every flag off; set the ones a test needs. */
export function kernelRecord(s: Socket, flags: Partial<KernelRecord> = {}): KernelRecord {
  return {
    cookie: s.cookie!, family: s.family, state: s.state, localAddress: s.localAddress, localPort: s.localPort,
    remoteAddress: s.remoteAddress, remotePort: s.remotePort, inode: s.inode, uid: s.uid, userLocks: 0,
    connectBind: false, portAllocatedByConnect: false, bucketRead: true, twConnectBind: null, connectChosePort: false,
    explicitPortBind: false, explicitAddressBind: false, sharesListenerPort: false, sharedListenerCookie: null,
    maxAckBacklog: 0, acceptBacklogInherited: false, listenerCookie: null, ...flags,
  };
}

export function kernelEvidence(records: KernelRecord[], births: Array<[string, KernelBirth]> = []): KernelEvidence {
  return { available: true, code: null, reason: null, records: kernelRecordIndex(records), births: kernelBirthIndex(births), tracepoint: true };
}
