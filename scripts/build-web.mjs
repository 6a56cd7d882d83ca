#!/usr/bin/env node
// Bundles the browser code (web/) into dist/web with esbuild: the console (Preact) and GraphiQL
// (React), each its own bundle, so GraphiQL is loaded only on /graphql. File names carry a content
// hash (served as immutable); each page's index.html is written with the names of this build.
// Needs no network. Prints each bundle's size, raw and gzipped.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });

const APPS = [
  { name: 'console', entry: 'web/console/main.tsx', jsxImportSource: 'preact', title: 'tcpdir' },
  { name: 'graphiql', entry: 'web/graphiql/main.tsx', jsxImportSource: 'react', title: 'tcpdir GraphQL' },
];

const report = [];
for (const app of APPS) {
  const dir = join(out, 'assets', app.name);
  const r = await build({
    absWorkingDir: root,
    entryPoints: { [app.name]: app.entry },
    outdir: dir,
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    sourcemap: false,
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: app.jsxImportSource,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.svg': 'file' },
    define: { 'process.env.NODE_ENV': '"production"' },
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = r.metafile.outputs;
  const gzOf = new Map();
  let raw = 0;
  let gz = 0;
  for (const file of Object.keys(outputs)) {
    const bytes = readFileSync(join(root, file));
    gzOf.set(file, gzipSync(bytes, { level: 9 }).length);
    raw += bytes.length;
    gz += gzOf.get(file);
  }
  const entry = Object.keys(outputs).find((f) => basename(f).startsWith(`${app.name}-`) && f.endsWith('.js'));
  const js = basename(entry);
  const cssFile = outputs[entry].cssBundle;
  const css = cssFile ? basename(cssFile) : '';
  // What a first visit loads: the entry, its static imports (recursively) and its CSS; lazy chunks not.
  const first = new Set(cssFile ? [cssFile] : []);
  (function walk(f) {
    if (first.has(f)) return;
    first.add(f);
    for (const i of outputs[f].imports) if (i.kind === 'import-statement' && outputs[i.path]) walk(i.path);
  })(entry);
  const entryGz = [...first].reduce((n, f) => n + gzOf.get(f), 0);
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${app.title}</title>
<link rel="icon" href="data:,">
${css ? `<link rel="stylesheet" href="/assets/${app.name}/${css}">\n` : ''}<script type="module" src="/assets/${app.name}/${js}"></script>
</head>
<body>
<div id="${app.name}"><noscript>This page needs JavaScript.</noscript></div>
</body>
</html>
`;
  mkdirSync(join(out, app.name), { recursive: true });
  writeFileSync(join(out, app.name, 'index.html'), page);
  report.push({ bundle: app.name, files: Object.keys(r.metafile.outputs).length, rawKB: +(raw / 1024).toFixed(1), gzipKB: +(gz / 1024).toFixed(1), firstLoadGzipKB: +(entryGz / 1024).toFixed(1) });
}
writeFileSync(join(out, 'sizes.json'), JSON.stringify(report, null, 2) + '\n');
for (const r of report) console.log(`web: ${r.bundle}: ${r.files} files, ${r.rawKB} kB, ${r.gzipKB} kB gzipped (first load ${r.firstLoadGzipKB} kB gzipped)`);
