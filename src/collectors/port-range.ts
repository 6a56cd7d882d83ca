import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PortRange } from '../model';
import { DEFAULT_PROC_ROOT } from './host-paths';

/** `ip_local_port_range` text ("32768\t60999\n") -> range. Throws naming the file on anything else. */
export function parsePortRange(text: string, fileName = 'ip_local_port_range'): PortRange {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`${fileName}: expected "LOW HIGH", got ${JSON.stringify(text.slice(0, 60))}`);
  const low = Number(m[1]);
  const high = Number(m[2]);
  if (low < 1 || high > 65535 || low > high) {
    throw new Error(`${fileName}: port range ${low}-${high} is not within 1..65535`);
  }
  return { low, high };
}

/**
 * `ip_local_reserved_ports` text: comma-separated ports and "a-b" ranges, empty when none
 * ("8080,9000-9010\n"). Returns inclusive ranges in the order the kernel printed them.
 */
export function parseReservedPorts(text: string, fileName = 'ip_local_reserved_ports'): PortRange[] {
  const t = text.trim();
  if (t === '') return [];
  return t.split(',').map((part) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`${fileName}: bad port or range ${JSON.stringify(part)}`);
    const low = Number(m[1]);
    const high = m[2] === undefined ? low : Number(m[2]);
    if (low > high || high > 65535) throw new Error(`${fileName}: bad port range ${JSON.stringify(part)}`);
    return { low, high };
  });
}

/**
 * Ephemeral range of the reader's network namespace (the sysctl always shows the reader's netns,
 * even under /proc/PID/root). Null when the file is absent.
 */
export async function readPortRange(root = DEFAULT_PROC_ROOT): Promise<PortRange | null> {
  const p = join(root, 'sys', 'net', 'ipv4', 'ip_local_port_range');
  const text = await readFile(p, 'latin1').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  return text === null ? null : parsePortRange(text, p);
}

/** Reserved ports of the reader's netns; [] when the file is absent. */
export async function readReservedPorts(root = DEFAULT_PROC_ROOT): Promise<PortRange[]> {
  const p = join(root, 'sys', 'net', 'ipv4', 'ip_local_reserved_ports');
  const text = await readFile(p, 'latin1').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  return text === null ? [] : parseReservedPorts(text, p);
}
