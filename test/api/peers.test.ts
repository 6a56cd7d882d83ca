import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createServer } from '../../src';
import { PeerAgents, type PeerAsk } from '../../src/collectors';

// A real tcpdir server as the peer agent, asked by PeerAgents about real loopback connections,
// seen from the client's side: the answer is the server side's verdict, in batches the server's
// cost and depth limits accept, with its token.
test('a tcpdir server answers a peer agent\'s batched questions about real connections', async () => {
  const s = await createServer({ logLevel: 'silent', token: 'peer-tok', port: 0, recordHistory: false });
  const url = await s.listen();
  const tcp = createTcpServer(() => undefined);
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const port = (tcp.address() as AddressInfo).port;
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 120; i++) {
      const c = connect(port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      clients.push(c);
    }
    const asks: PeerAsk[] = clients.map((c, i) => ({
      socketId: `c${i}`, peer: url, localAddress: '127.0.0.1', localPort: c.localPort!, remoteAddress: '127.0.0.1', remotePort: port,
    }));
    const agents = new PeerAgents({ peers: [`127.0.0.1=${url}`], token: 'peer-tok', timeoutMs: 5000 });
    const ev = await agents.ask(asks);
    assert.deepEqual(ev.peers, [{ url, asked: 120, reachable: true, reason: null }]);
    for (const a of asks) {
      const f = ev.bySocket.get(a.socketId);
      // The server's end of each connection is the accepted child of a live listener.
      assert.equal(f?.verdict?.direction, 'INBOUND', JSON.stringify(f));
    }
    const refused = await new PeerAgents({ peers: [`127.0.0.1=${url}`], token: 'wrong' }).ask(asks.slice(0, 1));
    assert.match(refused.bySocket.get('c0')?.note ?? '', /refused the peer token/);
  } finally {
    for (const c of clients) c.destroy();
    tcp.close();
    await s.close();
  }
});
