import { readlinkSync } from 'node:fs';
import type { ProcessMap, ProcessRef } from '../../model';
import { KERNEL_OWNER_SIZE, OWN } from './layout';

/**
 * Socket inode -> processes holding it, from one pass of the iter/task_file program (struct
 * tcpdir_owner_rec: a TCP socket descriptor of a process, with its tgid and the leader's comm).
 * A socket held by several processes (after fork or SCM_RIGHTS) lists each once, in the order the
 * kernel visited them; one held twice by a process (dup) lists it once. Pure.
 */
export function decodeOwners(buf: Buffer): Map<number, readonly ProcessRef[]> {
  const out = new Map<number, readonly ProcessRef[]>();
  const n = Math.floor(buf.length / KERNEL_OWNER_SIZE);
  // Words read through one aligned view (the addon's buffers are malloc'd; a copy otherwise):
  // readUInt32LE's checks per field were half the decoding of 100k records.
  const words = KERNEL_OWNER_SIZE / 4;
  const src = buf.byteOffset % 4 === 0 ? buf : Buffer.from(buf.subarray(0, n * KERNEL_OWNER_SIZE));
  const u32 = new Uint32Array(src.buffer, src.byteOffset, n * words);
  /** Per tgid: its shared, frozen one-owner list (a process's records usually come in one run). */
  const byPid = new Map<number, readonly ProcessRef[]>();
  let pid = -1;
  let only: readonly ProcessRef[] = [];
  for (let i = 0; i < n; i++) {
    const tgid = u32[i * words + OWN.tgid / 4];
    if (tgid !== pid) {
      pid = tgid;
      let l = byPid.get(tgid);
      if (l === undefined) {
        const o = i * KERNEL_OWNER_SIZE + OWN.comm;
        const end = src.indexOf(0, o);
        const command = src.toString('latin1', o, end < 0 || end > o + 16 ? o + 16 : end);
        l = Object.freeze([Object.freeze({ pid: tgid, command })]);
        byPid.set(tgid, l);
      }
      only = l;
    }
    const inode = u32[i * words + OWN.inode / 4];
    const h = out.get(inode);
    if (h === undefined) out.set(inode, only);
    else if (!h.some((r) => r.pid === pid)) out.set(inode, Object.freeze([...h, only[0]]));
  }
  return out;
}

/** The initial pid namespace's nsfs inode (PROC_PID_INIT_INO), the same on every Linux. */
const INIT_PID_NS = 'pid:[4026531836]';

/**
 * Whether the kernel's owner pass can stand for a /proc scan here: it reports global pids and sees
 * only the tasks of the reader's pid namespace, so tcpdir must run in the initial one (on the host,
 * or a pod with hostPID). Elsewhere processes come from /proc as before.
 */
export function inInitialPidNamespace(read: (path: string) => string = readlinkSync): boolean {
  try {
    return read('/proc/self/ns/pid') === INIT_PID_NS;
  } catch {
    return false;
  }
}

export type { ProcessMap };
