import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Remote ports of this namespace's TCP sockets (/proc/net/tcp and tcp6: hex "addr:port" fields). */
function portsReferenced(): Set<number> {
  const ports = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const remote = line.trim().split(/\s+/)[2];
      if (remote) ports.add(parseInt(remote.slice(remote.indexOf(':') + 1), 16));
    }
  }
  return ports;
}

/** A real listener plus one real client connection to it; close() tears both down. */
export async function openPair(host: string, listenHost = host): Promise<{
  server: net.Server;
  port: number;
  client: net.Socket;
  accepted: net.Socket;
  close(): Promise<void>;
}> {
  const accepted: net.Socket[] = [];
  let server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, listenHost, r));
  // Tests count the sockets on their port: a port an earlier test's clients still point at (in
  // TIME_WAIT for a minute) would add theirs. Take another until no socket refers to it.
  for (let i = 0; i < 20 && portsReferenced().has((server.address() as net.AddressInfo).port); i++) {
    await new Promise((r) => server.close(r));
    server = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, listenHost, r));
  }
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, host);
  await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
  while (accepted.length === 0) await new Promise((r) => setImmediate(r));
  return {
    server,
    port,
    client,
    accepted: accepted[0],
    async close() {
      client.destroy();
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
