import net from 'node:net';

/** A real listener plus one real client connection to it; close() tears both down. */
export async function openPair(host: string, listenHost = host): Promise<{
  server: net.Server;
  port: number;
  client: net.Socket;
  accepted: net.Socket;
  close(): Promise<void>;
}> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, listenHost, r));
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
