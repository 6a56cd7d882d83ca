import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { printSchema } from 'graphql';
import { tcpdirSchema } from './schema';

/** The schema as SDL, as committed in schema.graphql (a test keeps the two equal). */
export async function schemaSdl(): Promise<string> {
  return `${printSchema(await tcpdirSchema())}\n`;
}

if (require.main === module) {
  const out = resolve(__dirname, '..', '..', '..', 'schema.graphql');
  schemaSdl().then((sdl) => {
    writeFileSync(out, sdl);
    console.log(`wrote ${out}`);
  });
}
