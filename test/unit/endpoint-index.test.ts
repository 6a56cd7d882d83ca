import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildContext, findByTuple, findPeerIndex, sharerCount, sharersMixRemotePorts, sharersOf, type Context } from '../../src/classifier/context';
import { isLoopback, unmapIPv4, type NetnsInfo, type Socket } from '../../src/model';
import { snap, sock } from '../helpers/fake-snapshot';

// The endpoint lookups answer from per-port groups (scanned when small, indexed when large). Here
// they are checked against the plain definitions, by brute force, on random snapshots mixing
// IPv4 and IPv4-mapped text, loopback and not, three namespaces (and one unknown id, which counts
// as the snapshot's own), duplicate tuples, and ports holding a few or many connections.

const ADDRS = ['127.0.0.1', '::ffff:127.0.0.1', '10.0.0.1', '::ffff:10.0.0.1', '10.0.0.2', '::1', 'fe80::1'];
const NETNS = [null, null, null, 'net:[2]', 'net:[3]', 'net:[9]'];

function randomSnapshot(seed: number, multi: boolean): Socket[] {
  const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  // Port 80 and 443 hold dozens (indexed), the rest a few each (scanned).
  const port = (): number => [80, 80, 80, 443, 443, 5000 + rnd(40)][rnd(6)];
  const sockets: Socket[] = [];
  for (let i = 0; i < 400; i++) {
    sockets.push(sock({
      localAddress: ADDRS[rnd(ADDRS.length)], localPort: port(),
      remoteAddress: ADDRS[rnd(ADDRS.length)], remotePort: port(),
      netns: multi ? NETNS[rnd(NETNS.length)] : null,
    }));
  }
  // Mirrors of some, so that peers exist.
  for (let i = 0; i < 150; i++) {
    const s = sockets[rnd(sockets.length)];
    sockets.push(sock({ localAddress: s.remoteAddress, localPort: s.remotePort, remoteAddress: s.localAddress, remotePort: s.localPort, netns: rnd(3) === 0 && multi ? NETNS[rnd(NETNS.length)] : s.netns }));
  }
  return sockets;
}

const same = (a: string, b: string): boolean => unmapIPv4(a) === unmapIPv4(b);

function reference(ctx: Context) {
  const nsOf = (s: Socket): number => ctx.nsIndex.get(s.netns) ?? 0;
  const tuple = (s: Socket, la: string, lp: number, ra: string, rp: number): boolean =>
    s.localPort === lp && s.remotePort === rp && same(s.localAddress, la) && same(s.remoteAddress, ra);
  const only = (xs: number[]): number => (xs.length === 1 ? xs[0] : xs.length === 0 ? -1 : -2);
  const idx = ctx.conns.map((_, i) => i);
  return {
    sharers: (c: Socket): Socket[] => ctx.conns.filter((s) => s.localPort === c.localPort && same(s.localAddress, c.localAddress) && nsOf(s) === nsOf(c)),
    byTuple: (la: string, lp: number, ra: string, rp: number, netns?: string | null): Socket | null => {
      for (const [ns, n] of ctx.nsIndex) {
        if (netns !== undefined && ns !== netns) continue;
        const i = only(idx.filter((k) => nsOf(ctx.conns[k]) === n && tuple(ctx.conns[k], la, lp, ra, rp)));
        if (i >= 0) return ctx.conns[i];
      }
      return null;
    },
    peer: (c: Socket): number => {
      const i = only(idx.filter((k) => nsOf(ctx.conns[k]) === nsOf(c) && tuple(ctx.conns[k], c.remoteAddress, c.remotePort, c.localAddress, c.localPort)));
      if (i >= 0) return ctx.conns[i] === c ? -1 : i;
      if (ctx.hosts.length === 1) return -1;
      const j = only(idx.filter((k) => {
        const s = ctx.conns[k];
        return !isLoopback(s.localAddress) && !isLoopback(s.remoteAddress) && tuple(s, c.remoteAddress, c.remotePort, c.localAddress, c.localPort);
      }));
      return j < 0 || ctx.conns[j].netns === c.netns ? -1 : j;
    },
  };
}

function namespaces(): NetnsInfo[] {
  return ['net:[2]', 'net:[3]'].map((id) => ({
    id, name: null, pids: [], container: null, source: 'netlink', reason: null, self: false,
    host: { ephemeralPortRange: { low: 32768, high: 60999 }, reservedPorts: [], netns: id },
  }) as NetnsInfo);
}

for (const multi of [false, true]) {
  test(`endpoint lookups equal their brute-force definitions (${multi ? 'three namespaces' : 'one namespace'})`, () => {
    for (const seed of [1, 7, 42]) {
      const ctx = buildContext(snap(randomSnapshot(seed, multi), multi ? { namespaces: namespaces() } : {}));
      const ref = reference(ctx);
      let shared = 0, paired = 0, found = 0;
      for (const c of ctx.conns) {
        const want = ref.sharers(c);
        assert.deepEqual(sharersOf(ctx, c)?.map((s) => s.id).sort(), want.map((s) => s.id).sort(), `sharers of ${c.id}`);
        assert.equal(sharerCount(ctx, c), want.length);
        assert.equal(sharersMixRemotePorts(ctx, c), want.some((s) => s.remotePort !== want[0].remotePort));
        if (want.length > 1) shared++;
        const p = ref.peer(c);
        assert.equal(findPeerIndex(ctx, c), p, `peer of ${c.localAddress}:${c.localPort} -> ${c.remoteAddress}:${c.remotePort} in ${c.netns}`);
        if (p >= 0) paired++;
        for (const netns of [undefined, c.netns]) {
          const t = ref.byTuple(unmapIPv4(c.localAddress), c.localPort, c.remoteAddress, c.remotePort, netns);
          assert.equal(findByTuple(ctx, unmapIPv4(c.localAddress), c.localPort, c.remoteAddress, c.remotePort, netns), t);
          if (t) found++;
        }
      }
      // The random input exercises every answer, not only misses.
      assert.ok(shared > 50 && paired > 20 && found > 100, `shared ${shared}, paired ${paired}, found ${found}`);
    }
  });
}
