import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** package.json's version, found by walking up from this file (src/ under ts-node, dist/src/ when built). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tcpdir' && pkg.version) return pkg.version;
    } catch {
      // not here: go up
    }
    if (dirname(dir) === dir) return '0.0.0-unknown';
  }
}

export const VERSION: string = packageVersion();
