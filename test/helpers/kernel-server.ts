// A tcpdir server for a test that needs kernel evidence: without it (no BTF, no privilege) the
// test is skipped, saying why, and the server closed.
import type { TestContext } from 'node:test';
import { createServer, type TcpdirServer } from '../../src';

export async function kernelServer(t: TestContext, options: Parameters<typeof createServer>[0], why = ''): Promise<TcpdirServer | null> {
  const app = await createServer(options);
  if (app.service.kernel.available) return app;
  await app.close();
  t.skip(`no kernel evidence here (${app.service.kernel.code})${why ? `: ${why}` : ''}`);
  return null;
}
