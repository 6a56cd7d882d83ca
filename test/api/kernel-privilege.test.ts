// Without privilege: `tcpdir serve` run as nobody (uid/gid 65534, no capabilities) must start,
// serve heuristic verdicts for a real loopback pair over HTTP, report
// host.kernelEvidence { available: false, code: EPERM, reason }, and log why exactly once.
// Needs root (to drop to nobody with setpriv) and a built eBPF addon (else the code would be
// NATIVE_UNAVAILABLE, not EPERM); skipped, saying why, otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { openPair } from '../helpers/sockets';

const REPO = path.resolve(__dirname, '..', '..', '..');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];
const NEEDED = ['bin/tcpdir.js', 'dist/src/cli/main.js', 'build/Release/tcpdir_sockdiag.node', 'build/Release/tcpdir_kernel.node', 'node_modules/fastify/package.json'];

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to drop to uid 65534 with setpriv';
  if (spawnSync('setpriv', ['--version']).status !== 0) return 'setpriv (util-linux) is not installed';
  const missing = NEEDED.filter((f) => !existsSync(path.join(REPO, f)));
  if (missing.length) return `not built: ${missing.join(', ')}`;
  // Every directory from / down must be traversable by nobody, and the files readable.
  const r = spawnSync('setpriv', [...NOBODY, 'sh', '-c', 'for f; do test -r "$f" || echo "$f"; done', 'sh', ...NEEDED.map((f) => path.join(REPO, f))], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout.trim()) return `uid 65534 cannot read ${r.stdout.trim().split('\n').join(', ') || r.stderr.trim()} (check directory permissions)`;
  return null;
}

const skip = skipReason();
if (skip) console.log(`# kernel-privilege skipped: ${skip}`);

describe('unprivileged tcpdir serve: heuristics, and it says why', { skip: skip ?? false }, () => {
  let child: ChildProcessWithoutNullStreams;
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let base = '';
  let pair: Awaited<ReturnType<typeof openPair>>;

  before(async () => {
    pair = await openPair('127.0.0.1');
    child = spawn('setpriv', [...NOBODY, process.execPath, path.join(REPO, 'bin/tcpdir.js'), 'serve', '--port', '0', '--max-age-ms', '0', '--log-level', 'info'],
      { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let wake: (() => void) | null = null;
    createInterface({ input: child.stdout }).on('line', (l) => {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        logs.push({ msg: l });
      }
      wake?.();
    });
    child.on('exit', () => wake?.());
    const deadline = Date.now() + 20_000;
    while (!base) {
      const m = logs.map((l) => /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(String(l.msg))).find(Boolean);
      if (m) base = m[1];
      else {
        if (child.exitCode !== null) throw new Error(`tcpdir serve as nobody exited ${child.exitCode}: ${stderr.trim()} ${JSON.stringify(logs)}`);
        if (Date.now() > deadline) throw new Error(`tcpdir serve as nobody did not listen within 20 s: ${stderr.trim()}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
    }
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
    await pair?.close();
  });

  const gql = async (query: string, variables?: object): Promise<any> => {
    const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data;
  };

  test('the process really runs as 65534 without capabilities', () => {
    const status = spawnSync('cat', [`/proc/${child.pid}/status`], { encoding: 'utf8' }).stdout;
    // setpriv execs node in place: the pid is the server's.
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    assert.match(status, /^CapEff:\s+0+$/m);
  });

  test('host.kernelEvidence: unavailable, EPERM, with a reason', async () => {
    const { host } = await gql('{ host { kernelEvidence { available code reason tracepoint } } }');
    assert.equal(host.kernelEvidence.available, false);
    assert.equal(host.kernelEvidence.code, 'EPERM');
    assert.equal(host.kernelEvidence.tracepoint, false);
    // In words a user can act on: what is missing and the fix, not the failing call.
    assert.match(host.kernelEvidence.reason, /may not load eBPF programs: run it as root/, JSON.stringify(host));
    assert.match(host.kernelEvidence.reason, /verdicts are heuristic/, JSON.stringify(host));
  });

  test('/metrics says kernel evidence is off, and why', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /^tcpdir_kernel_evidence_available 0$/m);
    assert.match(text, /^tcpdir_kernel_evidence_unavailable\{code="EPERM"\} 1$/m);
  });

  test('tcpdir list and explain warn on stderr, once, that their verdicts are heuristic, and why', () => {
    for (const args of [['list', '--port', String(pair.port)], ['explain', `127.0.0.1:${pair.port}`, `127.0.0.1:${pair.client.localPort}`]]) {
      const r = spawnSync('setpriv', [...NOBODY, process.execPath, path.join(REPO, 'bin/tcpdir.js'), ...args], { cwd: REPO, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const warnings = r.stderr.split('\n').filter((l) => /no kernel evidence/.test(l));
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0], /^tcpdir: warning: no kernel evidence \(EPERM\): .*run it as root/);
      assert.ok(warnings[0].length <= 80, 'fits an 80-column terminal');
      assert.match(r.stdout, new RegExp(String(pair.port)), 'the answer itself stays on stdout');
    }
  });

  test('a real loopback pair gets heuristic verdicts, each saying the kernel source is missing', async () => {
    const { connections: all } = await gql('query($p: Int) { connections(port: $p) { local { port } remote { port } verdict { direction certain evidence { rule weight detail } } kernel { bornAs } } }', { p: pair.port });
    // Only the pair's two ends: an earlier test's client may linger in TIME_WAIT towards a port
    // the kernel has since given to this listener.
    const ends = new Set([pair.port, pair.client.localPort]);
    const connections = all.filter((c: any) => ends.has(c.local.port) && ends.has(c.remote.port));
    assert.equal(connections.length, 2, JSON.stringify(all));
    const server = connections.find((c: any) => c.local.port === pair.port);
    const client = connections.find((c: any) => c.remote.port === pair.port);
    assert.equal(server.verdict.direction, 'INBOUND', JSON.stringify(server));
    assert.equal(client.verdict.direction, 'OUTBOUND', JSON.stringify(client));
    for (const c of [server, client]) {
      assert.equal(c.kernel, null, JSON.stringify(c));
      assert.ok(!c.verdict.evidence.some((e: any) => e.rule.startsWith('kernel-') && e.weight > 0), JSON.stringify(c));
      const note = c.verdict.evidence.find((e: any) => e.rule === 'kernel-evidence');
      assert.ok(note && note.weight === 0 && /EPERM/.test(note.detail), JSON.stringify(c));
    }
  });

  test('the log says why once, however many snapshots were taken', async () => {
    for (let i = 0; i < 3; i++) await gql('{ host { socketCount } }');
    await new Promise((r) => setTimeout(r, 100));
    const lines = logs.filter((l) => /no kernel evidence/i.test(String(l.msg)));
    assert.equal(lines.length, 1, JSON.stringify(logs.map((l) => l.msg)));
    assert.equal(lines[0].code, 'EPERM', JSON.stringify(lines[0]));
    assert.match(String(lines[0].msg), /run it as root/, JSON.stringify(lines[0]));
  });
});
