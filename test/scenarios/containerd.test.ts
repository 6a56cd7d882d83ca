// A real containerd (Debian's package) with its CRI plugin, started here as a child process with
// its own root, state, socket and a minimal config (no network, no image, no CNI): tcpdir's CRI
// client asks it Version and ListContainers, and the pod sources report which runtime answers.
// A fresh containerd has no containers, so the list is empty; what is checked is that tcpdir
// speaks the protocol containerd serves (the same vendored proto as the fake runtime's tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriClient } from '../../src/collectors';
import { podSources } from '../../src/service';

function containerdVersion(): string | null {
  const r = spawnSync('containerd', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const version = process.platform === 'linux' ? containerdVersion() : null;
const skip = !version ? 'no containerd binary (Debian: apt-get install containerd)'
  : process.getuid?.() !== 0 ? 'containerd needs root' : null;
if (skip) console.log(`# containerd suite skipped: ${skip}`);

/** containerd's config (v2 format, as 1.6 and 1.7 read it): everything under `dir`, the CRI plugin on. */
function config(dir: string, socket: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
# Snapshotters that need a filesystem or a device this machine may not have; overlayfs and native stay.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # The exec/attach streaming server: loopback, any free port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni-bin"
    conf_dir = "${dir}/cni-conf"
`;
}

async function waitForSocket(path: string, child: ChildProcess, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}`);
    try {
      if (statSync(path).isSocket()) return;
    } catch {
      // Not yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no socket at ${path} after ${ms} ms`);
}

test(`a real containerd's CRI plugin answers Version and ListContainers (${version ?? 'containerd'})`, { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tcpdir-containerd-'));
  const socket = join(dir, 'containerd.sock');
  mkdirSync(join(dir, 'cni-conf'));
  writeFileSync(join(dir, 'config.toml'), config(dir, socket));
  const log = join(dir, 'containerd.log');
  const child = spawn('containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => chunks.push(b));
  const client = new CriClient(socket, 10_000);
  let close = (): void => {};
  try {
    try {
      await waitForSocket(socket, child, 20_000);
    } catch (e) {
      writeFileSync(log, Buffer.concat(chunks));
      const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ');
      return t.skip(`containerd cannot run here: ${(e as Error).message}: ${tail}`);
    }
    const v = await client.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
    assert.ok(version!.includes(v.runtimeVersion.split('~')[0]), `${v.runtimeVersion} is the binary's (${version})`);
    assert.deepEqual(await client.listContainers(), []);

    const lines: string[] = [];
    const errors: (string | null)[] = [];
    const sources = podSources({ criSocket: socket, onSource: (m) => lines.push(m), onError: (m) => errors.push(m) });
    close = sources.close;
    assert.equal(await sources.pods!.lookup('a'.repeat(64)), null, 'no container: no pod');
    assert.deepEqual(errors, []);
    assert.deepEqual(lines, [`pods named by containerd ${v.runtimeVersion} (CRI v1) at ${socket}`]);
  } finally {
    close();
    client.close();
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
    assert.ok(!existsSync(dir));
  }
});
