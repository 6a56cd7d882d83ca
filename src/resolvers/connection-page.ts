import { DEFAULT_LIMIT } from '../model';
import type { ConnectionsArgs } from '../schema';
import { checkLimit, type ConnectionRecord } from '../service';
import type { RequestContext } from './context';

/**
 * Query.connections: the request's view filtered, ordered and cut to a page, taken from the
 * request's row budget. Also how a long REST list's pages after the first are read (rest.ts), so
 * both answer the same rows.
 */
export async function connectionPage(ctx: RequestContext, a: ConnectionsArgs): Promise<ConnectionRecord[]> {
  const view = await ctx.view();
  const f = await ctx.service.filterFor(view, a);
  const limit = a.limit ?? DEFAULT_LIMIT;
  const offset = a.offset ?? 0;
  checkLimit(limit, offset);
  const rows = view.connections(f, limit, offset, a.orderBy ? { by: a.orderBy, descending: a.descending } : null);
  ctx.takeRows(rows.length);
  return rows;
}
