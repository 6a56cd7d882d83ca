import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_PROC_ROOT } from './host-paths';

/** `/proc/PID/comm` of each pid (at most `limit`), skipping processes that exited. */
export async function readCommands(pids: readonly number[], procRoot = DEFAULT_PROC_ROOT, limit = 1000): Promise<{ pid: number; command: string }[]> {
  const got = await Promise.all(
    pids.slice(0, limit).map((pid) =>
      readFile(join(procRoot, String(pid), 'comm'), 'utf8').then((t) => ({ pid, command: t.replace(/\n$/, '') }), () => null),
    ),
  );
  return got.filter((p): p is { pid: number; command: string } => p !== null);
}
