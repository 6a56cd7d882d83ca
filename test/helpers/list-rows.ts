import 'reflect-metadata';
import assert from 'node:assert/strict';
import { writeJsonList } from '../../src/server/json-bytes';
import { connectionReaders, listRowWriter, listRows } from '../../src/server/row-writer';
import { DEFAULT_LIMIT } from '../../src/model';
import { requestContext } from '../../src/resolvers';
import type { TcpdirService } from '../../src/service';
import { compiledDocuments } from '../../src/server/compiled-documents';
import { tcpdirSchema } from '../../src/server/schema';

/**
 * `tcpdir list`'s rows for these listConnections variables on the service's current snapshot,
 * both ways: the document run through GraphQL (its resolvers), and read straight from the service
 * as the CLI does (src/server/row-writer.ts): as objects (the table and a terminal's JSON) and as JSON
 * bytes written row by row (piped JSON). As JSON text: the bytes the CLI prints, key order included.
 */
export async function listRowsBothWays(service: TcpdirService, variables: Record<string, unknown>): Promise<{ graphql: string; direct: string; directJson: string; rows: number }> {
  const view = await service.current();
  const ctx = { ...requestContext(service), view: () => Promise.resolve(view) };
  const res = await compiledDocuments(await tcpdirSchema())('listConnections', variables, ctx);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const rows = (res.data as { listConnections: unknown[] }).listConnections;
  const readers = connectionReaders(view, await service.processesOf(view));
  const records = view.connections(await service.filterFor(view, variables), (variables.limit as number | undefined) ?? DEFAULT_LIMIT, 0);
  // Small chunks, so that rows cross them and the writer's two buffers take turns.
  const write = listRowWriter(readers);
  const chunks: Buffer[] = [];
  await writeJsonList(records.length, (i, out) => write(records[i], out), async (chunk) => chunks.push(Buffer.from(chunk)) > 0, 256);
  return {
    graphql: JSON.stringify(rows), direct: JSON.stringify(records.map(listRows(readers))), directJson: Buffer.concat(chunks).toString().replace(/\n$/, ''), rows: rows.length,
  };
}
