import { listenerCovers } from '../classifier';
import type { AddressFamily, ProcessMap, Socket } from '../model';
import { socketNetns } from './netns-view';
import type { SnapshotView } from './view';

export interface Owner {
  pid: number;
  command: string;
}

/**
 * Who owns each listener the last snapshot saw, by namespace and port: the process of an inbound
 * connection at its birth (the tracepoint's accept side runs in softirq, in no process of its
 * own), before any snapshot sees the connection itself. Owners are resolved once per listening
 * socket, so a snapshot asks for the /proc scan only when a listener is new.
 */
export class ListenerOwners {
  private byInode = new Map<number, Owner | null>();
  private byPort = new Map<string, { listener: Socket; owner: Owner }[]>();
  /** Namespace|port of every listener the last snapshot saw, owned or not. */
  private seen = new Set<string>();
  /** The last find() and its answer: under churn most accepted connections go to one listener. */
  private last: { netns: string | null; family: AddressFamily; localAddress: string; localPort: number; owner: Owner | null } | null = null;

  /** Whether `view` has a listener whose owner has not been looked for yet. */
  needsOwners(view: SnapshotView): boolean {
    return view.listeners().some((l) => l.socket.inode !== 0 && !this.byInode.has(l.socket.inode));
  }

  /** Takes `view`'s listeners; `procs` resolves the new ones (null: the scan failed, try next time). */
  update(view: SnapshotView, procs: ProcessMap | null): void {
    const byInode = new Map<number, Owner | null>();
    const byPort = new Map<string, { listener: Socket; owner: Owner }[]>();
    const seen = new Set<string>();
    for (const { socket: s } of view.listeners()) {
      seen.add(`${socketNetns(view.snapshot, s)}|${s.localPort}`);
      if (s.inode === 0) continue;
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
      list.push({ listener: s, owner });
      byPort.set(key, list);
    }
    this.byInode = byInode;
    this.byPort = byPort;
    this.seen = seen;
    this.last = null;
  }

  /** Whether the last snapshot saw a listener on this port of this namespace (owned or not). */
  knows(netns: string | null, localPort: number): boolean {
    return this.seen.has(`${netns}|${localPort}`);
  }

  /** The owner of the listener that accepts on this local endpoint: its own address first, then the wildcard. */
  find(netns: string | null, family: AddressFamily, localAddress: string, localPort: number): Owner | null {
    const last = this.last;
    if (last !== null && last.localPort === localPort && last.localAddress === localAddress && last.netns === netns && last.family === family) return last.owner;
    const owner = this.lookUp(netns, family, localAddress, localPort);
    this.last = { netns, family, localAddress, localPort, owner };
    return owner;
  }

  private lookUp(netns: string | null, family: AddressFamily, localAddress: string, localPort: number): Owner | null {
    const endpoint = { family, localAddress, localPort };
    let wildcard: Owner | null = null;
    for (const { listener, owner } of this.byPort.get(`${netns}|${localPort}`) ?? []) {
      if (!listenerCovers(listener, endpoint)) continue;
      if (listener.localAddress === localAddress) return owner;
      wildcard ??= owner;
    }
    return wildcard;
  }
}
