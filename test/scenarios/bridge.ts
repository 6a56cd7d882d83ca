// Namespaces on one Linux bridge: a "hub" namespace holds the bridge (so nothing is added to the
// host's own namespace) and one veth per member namespace; members get 10.77.0.<i>/24, the hub
// 10.77.0.254 on the bridge. Traffic stays inside these namespaces.
import { spawn } from 'node:child_process';
import { addNamespace, deleteNamespace, ip } from './netns';

export const BRIDGE_NET = { hub: '10.77.0.254', member: (i: number) => `10.77.0.${i + 1}` } as const;

export interface Bridged {
  hub: string;
  members: Array<{ ns: string; address: string }>;
  destroy(): void;
}

let counter = 0;

export function createBridged(n: number): Bridged {
  const tag = `br${counter++}`;
  const made: string[] = [];
  try {
    const hub = addNamespace(`${tag}-hub`);
    made.push(hub);
    ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', hub, 'addr', 'add', `${BRIDGE_NET.hub}/24`, 'dev', 'br0']);
    ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    const members = [];
    for (let i = 0; i < n; i++) {
      const ns = addNamespace(`${tag}-m${i}`);
      made.push(ns);
      // Created inside the member and its peer moved straight into the hub: no host device.
      ip(['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `v${i}`, 'netns', hub]);
      ip(['-n', hub, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${BRIDGE_NET.member(i)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      members.push({ ns, address: BRIDGE_NET.member(i) });
    }
    return { hub, members, destroy: () => made.forEach(deleteNamespace) };
  } catch (e) {
    made.forEach(deleteNamespace);
    throw e;
  }
}

/** Runs `node -e script` inside a namespace; resolves with its stdout. */
export function nodeIn(ns: string, script: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node -e in ${ns} exited ${code}: ${err.trim()}`));
    });
  });
}
