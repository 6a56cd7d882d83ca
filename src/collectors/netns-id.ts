import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_PROC_ROOT } from './host-paths';

/** Validates an nsfs link target such as "net:[4026531840]"; returns it or null. Pure. */
export function parseNetnsLink(target: string): string | null {
  return /^net:\[\d+\]$/.test(target) ? target : null;
}

/** The reader's network namespace id from `<root>/self/ns/net`; null when unreadable. */
export async function readNetnsId(root = DEFAULT_PROC_ROOT): Promise<string | null> {
  try {
    return parseNetnsLink(await readlink(join(root, 'self', 'ns', 'net')));
  } catch {
    // ENOENT in a fixture tree, EACCES under hidepid: the snapshot is still useful without it.
    return null;
  }
}
