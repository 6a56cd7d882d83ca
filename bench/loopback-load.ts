import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';

/**
 * Child processes holding many loopback TCP connections (both ends), for load tests and the
 * sock_diag benchmark. One process may hold 20,000 fds, so each child keeps at most ~9,900
 * connections (two fds each); spread larger loads over several children.
 */
const CHILD = `
const net = require('node:net');
const host = process.argv[1], n = Number(process.argv[2]);
const keep = [];
let accepted = 0;
const srv = net.createServer((s) => { accepted++; keep.push(s); s.on('error', () => {}); });
srv.listen({ host, port: 0, backlog: 4096 }, async () => {
  const port = srv.address().port;
  for (let i = 0; i < n; i += 256) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 256); j++) {
      batch.push(new Promise((res, rej) => {
        const c = net.connect({ host, port }, res);
        c.on('error', rej);
        keep.push(c);
      }));
    }
    await Promise.all(batch);
  }
  while (accepted < n) await new Promise((r) => setTimeout(r, 5));
  process.stdout.write(JSON.stringify({ port }) + '\\n');
});
// Reset rather than close: a FIN close leaves one TIME_WAIT socket per connection for 60 s, and
// those would weigh on whatever runs next on this host (the next bench size, the next bench).
process.stdin.on('end', () => {
  for (const s of keep) s.resetAndDestroy();
  setTimeout(() => process.exit(0), 50);
});
process.stdin.resume();
`;

export interface LoadChild {
  pid: number;
  host: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

export async function spawnLoopbackLoad(host: string, connections: number): Promise<LoadChild> {
  if (connections > 9900) throw new RangeError(`one child can hold at most 9900 connections, asked ${connections}`);
  const child: ChildProcess = spawn(process.execPath, ['-e', CHILD, host, String(connections)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin!.end(); // the child resets its connections and exits
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await exited;
  };
  try {
    const line = await new Promise<string>((res, rej) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once('line', (l) => { rl.close(); res(l); });
      child.once('exit', (code, sig) => rej(new Error(`load child (${host} x${connections}) exited early: ${code ?? sig}`)));
    });
    const { port } = JSON.parse(line) as { port: number };
    return { pid: child.pid!, host, port, connections, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Spreads `total` connections over as many children as needed, alternating the hosts. */
export async function spawnLoopbackLoads(total: number, hosts: string[] = ['127.0.0.1', '::1']): Promise<LoadChild[]> {
  const per = 9000;
  const children: LoadChild[] = [];
  try {
    for (let left = total, i = 0; left > 0; left -= per, i++) {
      children.push(await spawnLoopbackLoad(hosts[i % hosts.length], Math.min(per, left)));
    }
  } catch (err) {
    await Promise.all(children.map((c) => c.close()));
    throw err;
  }
  return children;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a child server to listen on). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
