import type { ProcessRef } from '../model';
import { InputError, MAX_LIMIT, type ConnectionRecord, type HistoryService, type ListenerRecord, type SnapshotView, type TcpdirService } from '../service';

/** Connection rows one request may return by default, all its lists together. */
export const MAX_ROWS = MAX_LIMIT;

/**
 * Per request: the service, one snapshot view shared by every resolver of the request, and the
 * request's row budget. Each list of connections (Query.connections, Listener.connections) takes
 * its rows from the budget before they are resolved, so a document of many aliased or nested
 * lists is refused with an error instead of built in memory: eight aliased 100k-row lists held
 * 4 GB, and `connections { listener { connections } }` grows with the square of a listener's
 * children.
 */
export interface RequestContext {
  service: TcpdirService;
  /** The history recorder's use cases; null when history is off. */
  history: HistoryService | null;
  view(): Promise<SnapshotView>;
  /**
   * The request's view once view() has resolved, else null: lets a field resolver of a big list
   * answer each row without a promise (40k promise chains were most of a list's time).
   */
  viewNow(): SnapshotView | null;
  /** Takes `n` rows from the budget; an InputError (parameter `limit`) when fewer are left. */
  takeRows(n: number): void;
  /** Rows the request may still return. */
  rowsLeft(): number;
}

/** `local`: a peer agent is asking; answer from this host's own evidence, without asking peers in turn. */
export function requestContext(service: TcpdirService, maxRows = MAX_ROWS, history: HistoryService | null = null, local = false): RequestContext {
  let view: Promise<SnapshotView> | null = null;
  let resolved: SnapshotView | null = null;
  let left = maxRows;
  return {
    service,
    history,
    view: () => (view ??= service.current({ local }).then((v) => (resolved = v))),
    viewNow: () => resolved,
    takeRows: (n) => {
      if (n > left) {
        throw new InputError('limit', `this request would return more than ${maxRows} connections in total (all its lists, listeners' ` +
          'connections included); ask for fewer with limit and filters, or split it into several requests');
      }
      left -= n;
    },
    rowsLeft: () => left,
  };
}

/**
 * A socket's processes: at once when the request's view and its owners are resolved (every row
 * after the first of a list), else awaited.
 */
export function processesOf(ctx: RequestContext, rec: ConnectionRecord | ListenerRecord): ProcessRef[] | Promise<ProcessRef[]> {
  const view = ctx.viewNow();
  const owners = view && ctx.service.processesReady(view);
  if (owners) return rec.socket.inode === 0 ? [] : [...(owners.get(rec.socket.inode) ?? [])];
  return ctx.view().then((v) => ctx.service.processesFor(v, rec)).then((p) => [...p]);
}

/** `fn` of the request's view: at once when it is resolved (rows of a list), else once it is. */
export function withView<T>(ctx: RequestContext, fn: (v: SnapshotView) => T): T | Promise<T> {
  const v = ctx.viewNow();
  return v ? fn(v) : ctx.view().then(fn);
}
