// What the history recorder reads of one connection of a view (ObservedConnection), read from the
// view's socket and verdict columns when asked. A look builds one per connection every interval
// (100k at 100k sockets), in slices with turns of the event loop between them, so they outlive
// scavenges and reach the old generation: as object literals with two closures each they were
// about 330 bytes a connection, 32 MiB of old-generation garbage per look; these are 40.
import type { ObservedConnection } from '../history';
import type { ProcessMap, Socket } from '../model';
import { socketNetns } from './netns-view';
import type { SnapshotView } from './view';

/** One look's view, shared by its connections; `procs` is set once owners are resolved (if they are). */
export interface Look {
  readonly view: SnapshotView;
  readonly conns: readonly Socket[];
  procs: ProcessMap | null;
}

export class ViewConnection implements ObservedConnection {
  constructor(private readonly look: Look, private readonly i: number) {}

  private get c(): Socket {
    return this.look.conns[this.i];
  }

  get id(): string { return this.c.id; }
  get cookie(): string | null { return this.c.cookie; }
  get netns(): string | null { return socketNetns(this.look.view.snapshot, this.c); }
  get family(): Socket['family'] { return this.c.family; }
  get state(): string { return this.c.state; }
  get owned(): boolean { return this.c.inode !== 0; }
  get localAddress(): string { return this.c.localAddress; }
  get localPort(): number { return this.c.localPort; }
  get remoteAddress(): string { return this.c.remoteAddress; }
  get remotePort(): number { return this.c.remotePort; }
  get direction(): ObservedConnection['direction'] { return this.look.view.verdicts.direction(this.i); }
  get confidence(): number { return this.look.view.verdicts.confidence(this.i); }
  get certain(): boolean { return this.look.view.verdicts.certain(this.i); }

  rule(): string | null {
    const ev = this.look.view.verdicts.evidenceAt(this.i).filter((e) => e.weight > 0 || e.conclusive);
    const top = ev.find((e) => e.conclusive) ?? ev.sort((a, b) => b.weight - a.weight)[0];
    return top ? top.rule : null;
  }

  process(): { pid: number; command: string } | null {
    const c = this.c;
    const p = c.inode !== 0 ? this.look.procs?.get(c.inode)?.[0] : undefined;
    return p ? { pid: p.pid, command: p.command } : null;
  }
}
