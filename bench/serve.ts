// A tcpdir server in its own process for the benchmarks, with ServerOptions as JSON in argv[2]
// (what `tcpdir serve` does, plus options the CLI does not expose, e.g. staleWhileRevalidate).
// Prints {"port":N} once listening; SIGTERM drains and exits 0.
import { createServer, type ServerOptions } from '../src/server';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ServerOptions;
  const s = await createServer({ host: '127.0.0.1', port: 0, logLevel: 'warn', ...opts });
  await s.listen();
  process.stdout.write(`${JSON.stringify({ port: (s.server.address() as { port: number }).port })}\n`);
  process.once('SIGTERM', () => s.close().then(() => process.exit(0)));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
