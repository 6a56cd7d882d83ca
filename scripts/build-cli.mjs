#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports statically) into one file,
// dist/src/cli/main.bundle.js, which bin/tcpdir.js loads for `list`: a cold process then reads one
// file instead of ~100 module files. What the CLI loads on demand (import(), and require() in a
// function: the server, schema, resolvers, history store, gRPC) stays outside and is loaded from
// dist/ as before: the bundle sits beside dist/src/cli/main.js, so those relative paths, and the
// __dirname-based ones (build/Release, proto/), resolve as they do from dist/src/*/. Needs no
// network. Run after tsc (npm run build and npm test do).
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const r = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/src/cli/main.bundle.js',
  tsconfig: 'tsconfig.json',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  metafile: true,
  // import() becomes require(), as tsc emits it: the server's modules load as CommonJS either way.
  supported: { 'dynamic-import': false },
  plugins: [{
    name: 'on-demand-stays-outside',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const ours = args.importer.startsWith(`${root}src/`);
        return ours && (args.kind === 'dynamic-import' || args.kind === 'require-call') ? { external: true } : undefined;
      });
    },
  }],
});
// Decorated classes (the GraphQL schema) need tsc's decorator metadata, which esbuild does not
// emit: they must stay outside, with the server.
const inside = Object.keys(r.metafile.inputs).filter((f) => /^src\/(schema|resolvers|server\/(schema|create-server))/.test(f));
if (inside.length > 0) throw new Error(`build-cli: the CLI bundle took in ${inside.join(', ')}; import it on demand instead`);
