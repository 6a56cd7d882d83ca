import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { formatIPv4, formatIPv6, stateName, type AddressFamily, type Socket } from '../model';
import { DEFAULT_PROC_ROOT } from './host-paths';

/** A /proc/net/tcp{,6} line that is not what the kernel prints; names the file and 1-based line. */
export class ProcParseError extends Error {
  readonly code = 'EPROCPARSE';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'ProcParseError';
  }
}

// The kernel prints each 32-bit address word with %08X of the in-memory (network-order) word read
// as a host integer, so on little-endian hosts every 4-byte group comes out byte-reversed.
const LITTLE_ENDIAN = endianness() === 'LE';
// tm->when is in clock_t ticks (USER_HZ, 100 on every Linux ABI); netlink reports milliseconds.
const MS_PER_TICK = 10;

/** Value of hex digits s[a..b), or -1 when the range is empty or holds a non-hex character. */
function hexAt(s: string, a: number, b: number): number {
  if (a >= b) return -1;
  let v = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 65 && c <= 70) d = c - 55;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/** Value of decimal digits s[a..b), or -1. */
function decAt(s: string, a: number, b: number): number {
  if (a >= b) return -1;
  let v = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/** Address hex as printed by /proc/net/tcp{,6} -> bytes in network order, or null if not hex. */
function addressBytes(hex: string): Uint8Array | null {
  const out = new Uint8Array(hex.length / 2);
  for (let w = 0; w < out.length; w += 4) {
    for (let i = 0; i < 4; i++) {
      const byte = hexAt(hex, (w + i) * 2, (w + i) * 2 + 2);
      if (byte < 0) return null;
      out[LITTLE_ENDIAN ? w + 3 - i : w + i] = byte;
    }
  }
  return out;
}

// A module-level thrower: a closure per row would force the loop's locals into a heap context.
function bad(file: string, line: number, text: string, from: number, to: number, why: string): never {
  throw new ProcParseError(file, line, `${why}: ${JSON.stringify(text.slice(from, to).trim().slice(0, 120))}`);
}

const FIELDS = 10; // sl local rem st tx:rx tr:when retrnsmt uid timeout inode [refcnt ptr ...]

/**
 * Parses the text of /proc/net/tcp (family IPV4) or /proc/net/tcp6 (IPV6). Pure.
 * `fileName` only labels errors. Throws ProcParseError on any line the kernel would not print.
 *
 * procfs has no cookie, tcp_info or v6only; LISTEN rows carry the accept-queue length in
 * rx_queue but not the backlog, so `wqueue` of a listener is tx_queue (0), not the backlog.
 */
export function parseProcNetTcp(text: string, family: AddressFamily, fileName: string): Socket[] {
  const addrLen = family === 'IPV4' ? 8 : 32;
  const fmt = family === 'IPV4' ? formatIPv4 : formatIPv6;
  const famTag = family === 'IPV4' ? '4' : '6';
  // Most rows share a few addresses (loopback, wildcard, the host's own): decode each once.
  const addrCache = new Map<string, string>();
  const seen = new Set<string>();
  const out: Socket[] = [];
  const ts = new Int32Array(FIELDS); // token starts
  const te = new Int32Array(FIELDS); // token ends

  let lineNo = 1;
  let pos = text.indexOf('\n');
  const header = pos < 0 ? text : text.slice(0, pos);
  if (!header.trimStart().startsWith('sl')) throw new ProcParseError(fileName, 1, 'missing "sl local_address ..." header');
  if (pos < 0) return out;
  pos++;
  const len = text.length;
  while (pos < len) {
    lineNo++;
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = len;
    const line0 = pos;
    // Split on spaces (the kernel pads columns and rows with them) into the first 10 tokens.
    let n = 0;
    let i = pos;
    while (n < FIELDS) {
      while (i < eol && text.charCodeAt(i) === 32) i++;
      if (i >= eol) break;
      ts[n] = i;
      while (i < eol && text.charCodeAt(i) !== 32) i++;
      te[n++] = i;
    }
    pos = eol + 1;
    if (n === 0) bad(fileName, lineNo, text, line0, eol, 'empty line');
    if (n < FIELDS) bad(fileName, lineNo, text, line0, eol, `truncated row (${n} fields, need at least ${FIELDS})`);
    if (text.charCodeAt(te[0] - 1) !== 58 || decAt(text, ts[0], te[0] - 1) < 0) bad(fileName, lineNo, text, line0, eol, 'bad slot number');
    // local and remote: ADDR:PORT, fixed widths
    for (let k = 1; k <= 2; k++) {
      if (te[k] - ts[k] !== addrLen + 5 || text.charCodeAt(ts[k] + addrLen) !== 58) bad(fileName, lineNo, text, line0, eol, k === 1 ? 'bad local_address' : 'bad rem_address');
    }
    const lport = hexAt(text, ts[1] + addrLen + 1, te[1]);
    const rport = hexAt(text, ts[2] + addrLen + 1, te[2]);
    if (lport < 0) bad(fileName, lineNo, text, line0, eol, 'bad local_address');
    if (rport < 0) bad(fileName, lineNo, text, line0, eol, 'bad rem_address');
    const code = te[3] - ts[3] === 2 ? hexAt(text, ts[3], te[3]) : -1;
    if (code < 0) bad(fileName, lineNo, text, line0, eol, 'bad state');
    if (code < 1 || code > 12) bad(fileName, lineNo, text, line0, eol, `unknown TCP state 0x${text.slice(ts[3], te[3])}`);
    const tx = te[4] - ts[4] === 17 && text.charCodeAt(ts[4] + 8) === 58 ? hexAt(text, ts[4], ts[4] + 8) : -1;
    const rx = tx >= 0 ? hexAt(text, ts[4] + 9, te[4]) : -1;
    if (tx < 0 || rx < 0) bad(fileName, lineNo, text, line0, eol, 'bad tx_queue:rx_queue');
    const timer = text.charCodeAt(ts[5] + 2) === 58 ? hexAt(text, ts[5], ts[5] + 2) : -1;
    const when = timer >= 0 ? hexAt(text, ts[5] + 3, te[5]) : -1;
    if (timer < 0 || when < 0) bad(fileName, lineNo, text, line0, eol, 'bad tr:tm->when');
    const retrans = hexAt(text, ts[6], te[6]);
    if (retrans < 0) bad(fileName, lineNo, text, line0, eol, 'bad retrnsmt');
    const uid = decAt(text, ts[7], te[7]);
    if (uid < 0) bad(fileName, lineNo, text, line0, eol, 'bad uid');
    if (decAt(text, ts[8], te[8]) < 0) bad(fileName, lineNo, text, line0, eol, 'bad timeout');
    const inode = decAt(text, ts[9], te[9]);
    if (inode < 0) bad(fileName, lineNo, text, line0, eol, 'bad inode');

    const lhex = text.slice(ts[1], ts[1] + addrLen);
    let localAddress = addrCache.get(lhex);
    if (localAddress === undefined) {
      const b = addressBytes(lhex) ?? bad(fileName, lineNo, text, line0, eol, 'bad local_address');
      localAddress = fmt(b);
      addrCache.set(lhex, localAddress);
    }
    const rhex = text.slice(ts[2], ts[2] + addrLen);
    let remoteAddress = addrCache.get(rhex);
    if (remoteAddress === undefined) {
      const b = addressBytes(rhex) ?? bad(fileName, lineNo, text, line0, eol, 'bad rem_address');
      remoteAddress = fmt(b);
      addrCache.set(rhex, remoteAddress);
    }
    const state = stateName(code);
    // The tuple names a connection for its whole life; listeners sharing a port (SO_REUSEPORT)
    // differ only by inode, which a listener keeps until it closes.
    let id = code === 10
      ? `p:${famTag}:${localAddress}:${lport}:L${inode}`
      : `p:${famTag}:${localAddress}:${lport}:${remoteAddress}:${rport}`;
    if (seen.has(id)) {
      // Same tuple twice in one read (a TIME_WAIT being replaced, or a race with the reader).
      let k = 2;
      while (seen.has(`${id}#${k}`)) k++;
      id = `${id}#${k}`;
    }
    seen.add(id);
    out.push({
      id,
      cookie: null,
      family,
      state,
      localAddress,
      localPort: lport,
      remoteAddress,
      remotePort: rport,
      inode,
      uid,
      timer,
      retrans,
      expiresMs: when * MS_PER_TICK,
      rqueue: rx,
      wqueue: tx,
      v6only: null,
      tcpInfo: null,
      netns: null,
    });
  }
  return out;
}

/** Reads and parses `<root>/net/tcp` and `<root>/net/tcp6`. A missing tcp6 (IPv6 disabled) is empty. */
export async function readProcNetTcp(root = DEFAULT_PROC_ROOT): Promise<Socket[]> {
  const p4 = join(root, 'net', 'tcp');
  const p6 = join(root, 'net', 'tcp6');
  const [t4, t6] = await Promise.all([
    readFile(p4, 'latin1'),
    readFile(p6, 'latin1').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    }),
  ]);
  const v4 = parseProcNetTcp(t4, 'IPV4', p4);
  return t6 === null ? v4 : v4.concat(parseProcNetTcp(t6, 'IPV6', p6));
}
