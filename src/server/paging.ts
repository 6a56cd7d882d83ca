import { ascii, JsonBytes } from './json-bytes';

/**
 * Rows per GraphQL execution when a long list answer is streamed (REST lists, and GraphQL
 * queries made of one `connections` field). A 100k-row answer built in one execution held the
 * whole result tree, then its JSON, then the reply (GBs for tens of MB of JSON); page by page
 * only one page is alive at a time, and the first rows leave at once. A page should also die
 * young: V8 moves what survives two scavenges of its young generation to the old one, where
 * only a full collection frees it; so a page is turned into text at once (jsonPages) and no
 * row waits on the socket.
 */
export const PAGE_ROWS = 1000;

/**
 * Characters per chunk of a streamed answer. V8 puts a string over 128 KiB straight into the
 * old generation, where only a full collection frees it: one string per page (0.9 MB for 1000
 * rows with evidence) left every page of a 100k-row answer in the heap until a mark-compact
 * (the server grew by 340 MB while sending 91 MiB). Chunks this size (at most 64 KiB even as
 * two-byte text) die young, as soon as the socket has taken them.
 */
export const CHUNK_CHARS = 32 * 1024;

/**
 * Chunks a streamed answer may hold ahead of the socket (Readable.from's highWaterMark). The
 * default, 16, kept up to 16 chunks waiting long enough to be moved to the old generation.
 */
export const CHUNKS_AHEAD = 1;

/** Bytes per chunk of a list streamed as bytes (jsonRowPages): as small, for the same reason. */
export const CHUNK_BYTES = 32 * 1024;

/**
 * The JSON text of a list answer, page by page: `prefix[rows...]suffix`, in chunks of about
 * CHUNK_CHARS. `first` is the first page, already run (at `offset`); `runPage(limit, offset)`
 * runs the next ones, all of them on one pinned snapshot (the caller's context), and throws when
 * one fails: the headers are gone by then, so the body ends early (invalid JSON) rather than
 * pretend to be whole. The next page runs only once the stream asks for more (backpressure).
 * Each page is turned into text before any of it is sent, and then dropped (see PAGE_ROWS).
 */
export async function* jsonPages(
  first: readonly unknown[],
  runPage: (limit: number, offset: number) => Promise<readonly unknown[]>,
  limit: number,
  offset: number,
  prefix = '',
  suffix = '',
): AsyncGenerator<string> {
  let out = `${prefix}[`;
  let got = 0;
  const text: string[] = [];
  for (let rows = first, size = first.length; ; ) {
    // The whole page to text first, then sent: its rows (about three times the size of their
    // JSON) are garbage before anything waits on the socket.
    for (let k = 0; k < rows.length; k++) {
      out += `${got++ > 0 ? ',' : ''}${JSON.stringify(rows[k])}`;
      if (out.length >= CHUNK_CHARS) {
        text.push(out);
        out = '';
      }
    }
    const more = rows.length === size && got < limit;
    rows = [];
    for (let k = 0; k < text.length; k++) {
      const chunk = text[k];
      text[k] = '';
      yield chunk;
    }
    text.length = 0;
    if (!more) break;
    size = Math.min(PAGE_ROWS, limit - got);
    rows = await runPage(size, offset + got);
  }
  yield `${out}]${suffix}`;
}

/**
 * jsonPages for a list whose rows can be written as bytes (connections): the first page (already
 * run through GraphQL, as objects) as JSON.stringify gives it, the next ones read by
 * `readPage(limit, offset)` and written by `write` straight into bytes, without result objects or
 * strings (row-writer.ts). Each chunk is a Buffer of its own: the socket may hold it after it is
 * yielded.
 */
export async function* jsonRowPages<T>(
  first: readonly unknown[],
  readPage: (limit: number, offset: number) => Promise<readonly T[]>,
  write: (row: T, out: JsonBytes) => void,
  limit: number,
  offset: number,
): AsyncGenerator<Buffer> {
  const out = new JsonBytes(CHUNK_BYTES);
  out.raw(OPEN_LIST);
  for (let k = 0; k < first.length; k++) {
    if (k > 0) out.raw(COMMA);
    out.value(first[k]);
    if (out.full) yield Buffer.from(out.take());
  }
  let got = first.length;
  for (let more = got >= PAGE_ROWS && got < limit; more; ) {
    const size = Math.min(PAGE_ROWS, limit - got);
    const rows = await readPage(size, offset + got);
    for (let k = 0; k < rows.length; k++) {
      out.raw(COMMA);
      write(rows[k], out);
      if (out.full) yield Buffer.from(out.take());
    }
    got += rows.length;
    more = rows.length === size && got < limit;
  }
  out.raw(CLOSE_LIST);
  yield Buffer.from(out.take());
}

const OPEN_LIST = ascii('[');
const COMMA = ascii(',');
const CLOSE_LIST = ascii(']');
