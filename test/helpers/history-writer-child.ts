// Child process of the kill -9 test: writes lives to the store at argv[2] as fast as it can and
// says "flushed" on stdout after the first batch reaches the file; the parent then SIGKILLs it.
import { HistoryStore } from '../../src/history';
import { life } from './history-lives';

const store = HistoryStore.open({ path: process.argv[2], flushMs: 5, maxBatch: 2000 });
let n = 0;
let told = false;
function burst(): void {
  const lives = [];
  for (let i = 0; i < 2000; i++, n++) {
    lives.push(life({ key: `k${n}`, localPort: n % 300, openedAt: 1_000_000 + n, remoteAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` }));
    // Close earlier ones too, so updates and flows are in flight as well.
    if (n > 1000) lives.push(life({ key: `k${n - 1000}`, openedAt: 1_000_000 + n - 1000, closedAt: 2_000_000 + n, bytesSent: n, bytesReceived: n }));
  }
  store.write(lives);
  if (!told && store.status().records > 0) { told = true; process.stdout.write('flushed\n'); }
  setImmediate(burst);
}
burst();
