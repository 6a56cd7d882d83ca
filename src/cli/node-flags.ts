/**
 * V8 flags the server runs with: bin/tcpdir.js's shebang, `npm start` and the Dockerfile pass
 * them (a test keeps the three in step), and the benches spawn tcpdir's processes with them.
 * V8 starts with a small old-generation limit and, after an idle spell, its memory reducer shrinks
 * the heap again: a refresh of 100k sockets then paid a mark-compact almost every time. A 64 MB
 * floor keeps that for when the heap has really grown (docs/benchmarks.md, "Snapshot speed"). Heap sizes are
 * fixed when the process starts: they cannot be set from inside it.
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/**
 * Set by `tcpdir serve` once it runs (V8 reads this flag at every collection, so it takes effect
 * from inside the process; the one-shot CLI keeps V8's default). V8 lets the old generation grow
 * to up to 4x what survived the last full collection before the next one: with 100k sockets
 * about 100 MB survive, a stale-while-revalidate refresh and a streamed 100k-row answer then
 * filled the heap to 400-460 MB of mostly garbage. 20% keeps it near what is live: at 100k
 * sockets the median RSS before a 100k-row REST list went from 252 MiB at 30% to 237 MiB, its
 * peak from 278 to 264 MiB; server CPU 1478 against 1586 ticks over those five rounds, 569/651
 * against 542/556 over twelve fresh summaries (noise of the same order). 10% cost 15% more CPU
 * for no lower peak. docs/benchmarks.md, "Memory while answering a 100k-row list".
 * --no-allocation-site-pretenuring: V8 had marked the allocation sites of a list's rows (records,
 * evidence, result objects) as long-lived and allocated them straight in the old generation, so
 * every big answer filled it with garbage that only a full collection frees. Sampled with the
 * heap profiler (objects a full collection freed) over a 100k-row REST list and a GraphQL list:
 * 80-150 MiB with pretenuring, 22 MiB without; the RSS of the server no longer grew while it
 * sent the REST list.
 */
export const SERVER_V8_FLAGS: readonly string[] = ['--heap-growing-percent=20', '--no-allocation-site-pretenuring'];
