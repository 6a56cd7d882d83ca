import type { AddressFamily, ProcessMap } from '../model';
import { socketNetns } from './netns-view';
import type { SnapshotView } from './view';

export interface Owner {
  pid: number;
  command: string;
}

interface Entry {
  address: string;
  family: AddressFamily;
  /** An IPv6 wildcard that also accepts IPv4. */
  dualStack: boolean;
  owner: Owner;
}

const WILDCARD: Record<AddressFamily, string> = { IPV4: '0.0.0.0', IPV6: '::' };

/**
 * Who owns each listener the last snapshot saw, by namespace, port and address: the process of
 * an inbound connection at its birth (the tracepoint's accept side runs in softirq, in no
 * process of its own), before any snapshot sees the connection itself. Owners are resolved once
 * per listening socket, so a snapshot asks for the /proc scan only when a listener is new.
 */
export class ListenerOwners {
  private byInode = new Map<number, Owner | null>();
  private byPort = new Map<string, Entry[]>();

  /** Whether `view` has a listener whose owner has not been looked for yet. */
  needsOwners(view: SnapshotView): boolean {
    for (const s of view.snapshot.sockets) if (s.state === 'LISTEN' && s.inode !== 0 && !this.byInode.has(s.inode)) return true;
    return false;
  }

  /** Takes `view`'s listeners; `procs` resolves the new ones (null: the scan failed, try next time). */
  update(view: SnapshotView, procs: ProcessMap | null): void {
    const byInode = new Map<number, Owner | null>();
    const byPort = new Map<string, Entry[]>();
    for (const s of view.snapshot.sockets) {
      if (s.state !== 'LISTEN' || s.inode === 0) continue;
      let owner = this.byInode.get(s.inode);
      if (owner === undefined) {
        if (!procs) continue;
        // The lowest pid: a pre-forking server's parent, usually.
        const p = procs.get(s.inode)?.reduce((a, b) => (b.pid < a.pid ? b : a));
        owner = p ? { pid: p.pid, command: p.command } : null;
      }
      byInode.set(s.inode, owner);
      if (!owner) continue;
      const key = `${socketNetns(view.snapshot, s)}|${s.localPort}`;
      const list = byPort.get(key) ?? [];
      list.push({ address: s.localAddress, family: s.family, dualStack: s.family === 'IPV6' && s.localAddress === '::' && s.v6only !== true, owner });
      byPort.set(key, list);
    }
    this.byInode = byInode;
    this.byPort = byPort;
  }

  /** The owner of the listener that accepts on this local endpoint: its own address first, then the wildcard. */
  find(netns: string | null, family: AddressFamily, address: string, port: number): Owner | null {
    const list = this.byPort.get(`${netns}|${port}`);
    if (!list) return null;
    const mapped = family === 'IPV6' && address.toLowerCase().startsWith('::ffff:') && address.includes('.');
    return (
      list.find((l) => l.address === address) ??
      list.find((l) => l.family === family && l.address === WILDCARD[family]) ??
      (family === 'IPV4' || mapped ? list.find((l) => l.dualStack) : undefined) ??
      null
    )?.owner ?? null;
  }
}
