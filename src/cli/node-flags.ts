/**
 * V8 flags the server runs with: bin/tcpdir.js's shebang, `npm start` and the Dockerfile pass
 * them (a test keeps the three in step), and the benches spawn tcpdir's processes with them.
 * V8 starts with a small old-generation limit and, after an idle spell, its memory reducer shrinks
 * the heap again: a refresh of 100k sockets then paid a mark-compact almost every time. A 64 MB
 * floor keeps that for when the heap has really grown (docs/benchmarks.md, "Snapshot speed"). Heap sizes are
 * fixed when the process starts: they cannot be set from inside it.
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
