/**
 * Rows per GraphQL execution when a long list answer is streamed (REST lists, and GraphQL
 * queries made of one `connections` field). A 100k-row answer built in one execution held the
 * whole result tree, then its JSON, then the reply (GBs for tens of MB of JSON); page by page
 * only one page is alive at a time, and the first rows leave at once.
 */
export const PAGE_ROWS = 1000;

/**
 * The JSON text of a list answer, page by page: `prefix[rows...]suffix`. `first` is the first
 * page, already run (at `offset`); `runPage(limit, offset)` runs the next ones, all of them on
 * one pinned snapshot (the caller's context), and throws when one fails: the headers are gone
 * by then, so the body ends early (invalid JSON) rather than pretend to be whole.
 */
export async function* jsonPages(
  first: readonly unknown[],
  runPage: (limit: number, offset: number) => Promise<readonly unknown[]>,
  limit: number,
  offset: number,
  prefix = '',
  suffix = '',
): AsyncGenerator<string> {
  yield `${prefix}[${first.map((r) => JSON.stringify(r)).join(',')}`;
  for (let got = first.length; got < limit; ) {
    const size = Math.min(PAGE_ROWS, limit - got);
    const rows = await runPage(size, offset + got);
    if (rows.length > 0) yield `${got > 0 ? ',' : ''}${rows.map((x) => JSON.stringify(x)).join(',')}`;
    got += rows.length;
    if (rows.length < size) break;
  }
  yield `]${suffix}`;
}
