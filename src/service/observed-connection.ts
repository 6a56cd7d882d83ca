// What the history recorder reads of a view's connections (ObservedConnections), read from the
// view's socket and verdict columns when asked, through one reused object. A look used to build
// an object literal with two closures per connection every interval (100k at 100k sockets, about
// 330 bytes each), in slices with turns of the event loop between them, so they outlived
// scavenges: 32 MiB of old-generation garbage per look.
import type { ObservedConnection, ObservedConnections } from '../history';
import type { ProcessMap, Socket } from '../model';
import { socketNetns } from './netns-view';
import type { SnapshotView } from './view';

/** One look's view, shared by its connections; `procs` is set once owners are resolved (if they are). */
export interface Look {
  readonly view: SnapshotView;
  readonly conns: readonly Socket[];
  procs: ProcessMap | null;
}

/** Connection `i` of a look (the recorder moves it from one to the next). */
class ViewConnection implements ObservedConnection {
  i = 0;

  constructor(private readonly look: Look) {}

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

/** A look's connections by index, each handed out as the one ViewConnection moved to it. */
export class LookConnections implements ObservedConnections {
  private readonly cursor: ViewConnection;

  constructor(private readonly look: Look) {
    this.cursor = new ViewConnection(look);
  }

  get length(): number {
    return this.look.conns.length;
  }

  at(i: number): ObservedConnection | undefined {
    if (!(i >= 0 && i < this.look.conns.length)) return undefined;
    this.cursor.i = i;
    return this.cursor;
  }
}
