import { existsSync, statSync, write } from 'node:fs';
import { isatty } from 'node:tty';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_LIMIT, MAX_LIMIT, TCP_STATE_NAMES } from '../model';
import { heuristicWarning } from '../collectors/kernel';
import { parsePeers } from '../collectors/peers';
import { findCriSocket } from '../collectors/cri-pods';
import { hostPaths } from '../collectors/host-paths';
import { parseNetnsLink } from '../collectors/netns-id';
// From the service's own files, not its index: the index also loads the history store (SQLite), a
// fifth of a one-shot command's start-up, which only `history` and `serve` use.
import { TcpdirService } from '../service/tcpdir-service';
import { remoteRange } from '../service/view';
import type { DocumentName } from '../server/documents';
import { UnsafeBindError } from '../server/bind-policy';
import { parseEndpoint } from '../server/rest-params';
import { VERSION } from '../server/version';
import { parseTime } from '../service/validate';
import {
  connectionOrder, connectionTable, eventLine, explain, historyTable, namespaceTable, type EventLine, type NamespaceRow, type Row,
} from './format';
import { terminalLayout } from './layout';
import { writeJsonList } from '../server/json-bytes';
import { connectionReaders, listRowWriter, listRows } from '../server/row-writer';
import { SERVER_V8_FLAGS } from './node-flags';
import { span } from './timing';

span('node start, modules loaded');

/** Exit code of `explain` when there is no such connection; usage errors exit 1 (commander), serve's unsafe bind 2. */
export const EXIT_NOT_FOUND = 3;

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** An enum option, accepted in any case and passed on in the API's (upper) case. */
function oneOf(name: string, values: readonly string[]) {
  return (v: string): string => {
    const u = v.toUpperCase();
    if (!values.includes(u)) throw new InvalidArgumentError(`${name} must be one of ${values.map((x) => x.toLowerCase()).join(', ')}`);
    return u;
  };
}
const directionOption = () => new Option('--direction <direction>', 'only this direction (inbound, outbound, unknown)').argParser(oneOf('direction', ['INBOUND', 'OUTBOUND', 'UNKNOWN']));

function duration(name: string) {
  return (v: string): number => {
    const m = /^(\d{1,9})(s|m|h|d|w)$/.exec(v);
    if (!m) throw new InvalidArgumentError(`${name} must be a duration such as 30m, 24h or 7d`);
    return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's']!;
  };
}

/** $XDG_STATE_HOME/tcpdir, else ~/.local/state/tcpdir (the user's state directory). */
function defaultDataDir(): string {
  return join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'tcpdir');
}

function historyPath(dataDir: string): string {
  return dataDir === ':memory:' ? ':memory:' : join(dataDir, 'history.sqlite');
}

/** An address or CIDR, checked as the API checks remoteAddress, the error naming the option. */
function remoteOption(): Option {
  return new Option('--remote <address|cidr>', 'only peers at this address or in this CIDR (10.0.0.0/8, fd00::/64)').argParser((v) => {
    try {
      remoteRange(v);
    } catch {
      throw new InvalidArgumentError('must be an IP address or a CIDR, e.g. 10.0.0.5, 10.0.0.0/8 or fd00::/64');
    }
    return v;
  });
}

function confidence(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number from 0 to 1');
  return n;
}

const sourceOption = () =>
  new Option('--source <source>', 'where sockets are read from: auto, ebpf, netlink or procfs (auto: the eBPF iterator when kernel evidence is loaded, else netlink, else procfs)')
    .argParser((v) => oneOf('source', ['AUTO', 'EBPF', 'NETLINK', 'PROCFS'])(v).toLowerCase()).default('auto');

// Every namespace by default. With CAP_SYS_ADMIN each is entered (sock_diag and its own port
// range); without, the others are read from /proc/PID/net/tcp{,6} and `namespaces` says so.
const allNamespacesOption = () =>
  new Option('--no-all-namespaces', 'read only the network namespace tcpdir runs in (default: every namespace on the host)');
const netnsOption = () => new Option('--netns <netns>', 'only this network namespace: nsfs id (net:[4026532177]) or /run/netns name');

/**
 * History's --netns: the nsfs id as recorded, or a /run/netns name turned into its id (the
 * mount's inode) while the name exists; a namespace that is gone is named by its id.
 */
function historyNetns(v: string): string {
  if (parseNetnsLink(v) !== null) return v;
  if (v === '' || v === '.' || v === '..' || v.includes('/')) throw new InvalidArgumentError('must be an nsfs id (net:[4026532177]) or a /run/netns name');
  const dir = hostPaths().netnsDir;
  const st = statSync(join(dir, v), { throwIfNoEntry: false });
  if (!st) throw new InvalidArgumentError(`no namespace named ${JSON.stringify(v)} in ${dir} (one that is gone is named by its id, net:[...])`);
  return `net:[${st.ino}]`;
}

type ServiceFlags = { source: string; kernelEvidence?: boolean; conntrack?: boolean; allNamespaces?: boolean };

/**
 * A service for one command: one fresh snapshot, no history. With `verdicts`, says on stderr
 * (once, before the answer) when they come without kernel evidence, and why.
 */
function openService(o: ServiceFlags, verdicts: boolean): TcpdirService {
  const service = new TcpdirService({ source: o.source as 'auto', maxAgeMs: 0, history: false, kernelEvidence: o.kernelEvidence, conntrack: o.conntrack, allNamespaces: o.allNamespaces !== false });
  span('service (kernel programs)');
  if (verdicts && !service.kernel.available) console.error(heuristicWarning(service.kernel));
  return service;
}

/**
 * Runs a stored GraphQL document in-process against the server's schema and resolvers (compiled,
 * as the REST mirror's pages are), without HTTP: no server is loaded (Fastify and Apollo were a
 * quarter of a one-shot command's start-up) and the answer is not serialised to JSON and parsed
 * back. The schema is loaded here, not at start: `list` does without it.
 */
async function query<T>(o: ServiceFlags, doc: DocumentName, variables: Record<string, unknown>, verdicts = false): Promise<T> {
  const service = openService(o, verdicts);
  try {
    const { tcpdirSchema } = await import('../server/schema');
    const { compiledDocuments } = await import('../server/compiled-documents');
    const { requestContext } = await import('../resolvers');
    const run = compiledDocuments(await tcpdirSchema());
    span('schema');
    // Absent options are absent variables (JSON would have dropped them), not explicit undefineds.
    const variableValues = Object.fromEntries(Object.entries(variables).filter(([, v]) => v !== undefined));
    const res = await run(doc, variableValues, requestContext(service));
    if (res.errors?.length) throw new Error(res.errors.map((e) => e.message).join('; '));
    return res.data![doc] as T;
  } finally {
    service.close();
  }
}

/** Writes all of `buf` to `fd` on the thread pool; false when the reader has gone (EPIPE). */
function writeAll(fd: number, buf: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const next = (): void => write(fd, buf, off, buf.length - off, null, (err, n) => {
      if (err?.code === 'EAGAIN') return void setTimeout(next, 1); // a non-blocking pipe handed to us
      if (err?.code === 'EPIPE') return resolve(false);
      if (err) return reject(err);
      off += n;
      if (off < buf.length) next();
      else resolve(true);
    });
    next();
  });
}

/** Indented for a person at a terminal, one line when piped (as gh does): 40% fewer bytes to write and parse. */
function json(v: unknown): string {
  return process.stdout.isTTY ? JSON.stringify(v, null, 2) : JSON.stringify(v);
}

/** `--peers` checked before start: a wrong entry is a usage error naming it (exit 1, as commander's). */
function peerList(v: string | undefined): string[] | undefined {
  if (!v) return undefined;
  const list = v.split(',').map((e) => e.trim()).filter((e) => e !== '');
  try {
    parsePeers(list);
  } catch (e) {
    console.error(`tcpdir: --peers: ${(e as Error).message}`);
    process.exit(1);
  }
  return list;
}

/**
 * Pod sources: those given; with none, the usual runtime socket if one exists here (a runtime that
 * does not answer CRI on it is then given up quietly: Docker's containerd has the plugin off).
 */
function pods(kubeletPods: string | undefined, criSocket: string | false | undefined): { kubeletPods?: string; criSocket?: string; criProbed?: boolean } {
  if (criSocket !== undefined || kubeletPods) return { kubeletPods, criSocket: criSocket || undefined };
  const found = findCriSocket();
  return found ? { criSocket: found, criProbed: true } : {};
}

export function program(): Command {
  const p = new Command('tcpdir').description('Inbound or outbound: a verdict, with confidence and evidence, for every TCP connection on this host.')
    .version(VERSION, '-V, --version', 'print the version');

  p.command('serve')
    .description('serve the web console (/), GraphQL (/graphql) and REST (/api/v1/...) on 127.0.0.1:4000')
    .option('--host <host>', 'address to listen on (non-loopback needs a token)', '127.0.0.1')
    .option('--port <port>', 'port to listen on', int('port', 0, 65535), 4000)
    .addOption(sourceOption())
    .option('--max-age-ms <ms>', 'one snapshot serves all requests this long (0 = fresh per request)', int('max-age-ms', 0, 3_600_000), 1000)
    .option('--no-stale-while-revalidate', 'when the snapshot is older than max-age, make requests wait for the next one instead of answering from it (up to max-age more) while it is built')
    .option('--token <token>', 'require Authorization: Bearer <token> (default $TCPDIR_TOKEN)')
    .option('--rate-limit <n>', 'requests per minute per client (0 = off)', int('rate-limit', 0, 1_000_000), 0)
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--no-kernel-evidence', 'do not load the eBPF kernel-evidence source')
    .option('--no-conntrack', "do not read netfilter's conntrack tables (evidence and NAT views)")
    .addOption(allNamespacesOption())
    .option('--metrics-top-listeners <n>', '/metrics: inbound connection counts of the n busiest listeners (0 = none)', int('metrics-top-listeners', 0, 1000), 20)
    .option('--metrics-max-age-ms <ms>', '/metrics: answer from a snapshot up to this old (a new one starts behind the scrape) instead of waiting for a collection; 0 = as fresh as --max-age-ms', int('metrics-max-age-ms', 0, 3_600_000), 10_000)
    .option('--metrics-per-netns', '/metrics: connections by network namespace too (one series per namespace)')
    .option('--otlp-endpoint <url>', 'send connection events (OTLP logs) and metrics to this OTLP/HTTP collector, e.g. http://collector:4318 (default: OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables)')
    .option('--kubelet-pods-url <url|file>', "the kubelet's pod list (e.g. http://127.0.0.1:10255/pods, or a PodList JSON file): names pods on namespaces, connections and OTLP (default $TCPDIR_KUBELET_PODS_URL)")
    .option('--cri-socket <path>', "the container runtime's CRI socket (containerd, CRI-O, cri-dockerd): names pods like --kubelet-pods-url (default $TCPDIR_CRI_SOCKET; with neither given, the first of /run/containerd/containerd.sock, /run/crio/crio.sock, /var/run/cri-dockerd.sock that exists)")
    .option('--no-cri-socket', 'do not look for a CRI socket')
    .option('--peers <urls>', "tcpdir agents on other hosts, comma-separated (http://10.0.0.2:4000, ADDRESS=URL, or a DNS name resolving to every agent, e.g. a headless Service: http://tcpdir-agents.tcpdir.svc:4000): lone connections to their addresses are settled by asking them (default $TCPDIR_PEERS)")
    .option('--peer-token <token>', 'bearer token for the peer agents (default $TCPDIR_PEER_TOKEN)')
    .option('--peer-timeout-ms <ms>', 'longest wait for peer agents per snapshot', int('peer-timeout-ms', 1, 60_000), 500)
    .option('--no-history', 'do not record connection history')
    .option('--data-dir <dir>', 'where the history database lives (:memory: keeps it in memory)', defaultDataDir())
    .option('--retention <duration>', 'keep closed connections this long (e.g. 24h, 7d)', duration('retention'), 24 * 3_600_000)
    .option('--max-db-mb <mb>', 'keep the history database under this size', int('max-db-mb', 1, 1_000_000), 512)
    .option('--history-interval-ms <ms>', 'snapshot interval for the history recorder (default 1000 without kernel evidence, 5000 with)', int('history-interval-ms', 100, 3_600_000))
    .action(async (o, cmd: Command) => {
      for (const flag of SERVER_V8_FLAGS) setFlagsFromString(flag);
      const { createServer } = await import('../server/create-server');
      const s = await createServer({
        recordHistory: o.history === false ? false : {
          path: historyPath(o.dataDir), retentionMs: o.retention, maxBytes: o.maxDbMb * 1024 * 1024, intervalMs: o.historyIntervalMs,
          optional: cmd.getOptionValueSource('dataDir') === 'default',
        },
        metricsTopListeners: o.metricsTopListeners, metricsPerNetns: o.metricsPerNetns === true, metricsMaxAgeMs: o.metricsMaxAgeMs,
        host: o.host, port: o.port, source: o.source, maxAgeMs: o.maxAgeMs, staleWhileRevalidate: o.staleWhileRevalidate !== false,
        otlp: { endpoint: o.otlpEndpoint },
        ...pods(o.kubeletPodsUrl ?? (process.env.TCPDIR_KUBELET_PODS_URL || undefined), o.criSocket ?? (process.env.TCPDIR_CRI_SOCKET || undefined)),
        peers: peerList(o.peers ?? process.env.TCPDIR_PEERS), peerToken: o.peerToken ?? (process.env.TCPDIR_PEER_TOKEN || undefined), peerTimeoutMs: o.peerTimeoutMs,
        token: o.token, rateLimit: o.rateLimit, logLevel: o.logLevel, kernelEvidence: o.kernelEvidence, conntrack: o.conntrack, allNamespaces: o.allNamespaces !== false,
      });
      try {
        await s.listen();
      } catch (e) {
        if (e instanceof UnsafeBindError) {
          console.error(`tcpdir: ${e.message}`);
          await s.close();
          process.exit(2);
        }
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL') {
          console.error(`tcpdir: cannot listen on ${o.host}:${o.port}: ${code === 'EADDRINUSE' ? 'the port is in use (another tcpdir?)' : 'no such local address'}; choose another with --host/--port`);
          await s.close();
          process.exit(1);
        }
        throw e;
      }
      let closing = false;
      const stop = (signal: string) => {
        if (closing) return;
        closing = true;
        s.app.log.info({ signal }, 'draining in-flight requests and stopping');
        s.close().then(() => process.exit(0), (err) => {
          s.app.log.error({ err }, 'shutdown failed');
          process.exit(1);
        });
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });

  p.command('list')
    .description('list connections with their verdicts, sorted by local then remote endpoint')
    .addOption(directionOption())
    .addOption(new Option('--state <state>', 'only this TCP state (e.g. established, time_wait)').argParser(oneOf('state', TCP_STATE_NAMES)))
    .option('--port <port>', 'local or remote port', int('port', 0, 65535))
    .option('--local-port <port>', 'local port', int('local-port', 0, 65535))
    .option('--remote-port <port>', 'remote port', int('remote-port', 0, 65535))
    .addOption(remoteOption())
    .option('--process <command|pid>', 'only sockets this process holds (command name or pid)')
    .option('--min-confidence <p>', 'only verdicts at least this sure', confidence)
    .option('--limit <n>', 'at most this many rows', int('limit', 0, MAX_LIMIT), DEFAULT_LIMIT)
    .addOption(sourceOption())
    .option('--no-kernel-evidence', 'do not load the eBPF kernel-evidence source')
    .option('--no-conntrack', "do not read netfilter's conntrack tables (evidence and NAT views)")
    .option('--json', 'print JSON (the GraphQL/REST shape, with processes)')
    .addOption(allNamespacesOption())
    .addOption(netnsOption())
    .action(async (o) => {
      // The rows of the listConnections document (the GraphQL/REST shape, with processes), read
      // straight from the service as its resolvers read them (server/row-writer.ts): no GraphQL execution.
      const service = openService(o, true);
      try {
        service.warmProcesses();
        const view = await service.current();
        span('snapshot + classification');
        // Owners come from the fd tables read on the thread pool since the start; the rows are
        // chosen and sorted meanwhile (unless --process needs the owners to choose them).
        const ownersRead = service.processesOf(view);
        const filter = await service.filterFor(view, {
          direction: o.direction, state: o.state, port: o.port, localPort: o.localPort, remotePort: o.remotePort, remoteAddress: o.remote,
          minConfidence: o.minConfidence, netns: o.netns, process: o.process,
        });
        // The first `limit` in snapshot order, as the API gives them, then sorted for reading.
        const records = view.connections(filter, o.limit, 0);
        // ss never cuts its list: a cut one would read as all there is, so it is said on stderr.
        if (o.limit > 0 && records.length === o.limit) {
          const total = view.count(filter);
          if (total > o.limit) console.error(`tcpdir: showing ${o.limit} of ${total} connections; --limit N (at most ${MAX_LIMIT}) shows more`);
        }
        const order = connectionOrder(records);
        span('filter + sort');
        const readers = connectionReaders(view, await ownersRead);
        span('process owners');
        if (o.json && !isatty(1)) {
          const rowJson = listRowWriter(readers);
          // The big answers' path: the rows are serialised in order into a MiB at a time, each
          // written on the thread pool while the next is made (a 100 MB answer written as one
          // string was first copied whole into one buffer, and a synchronous write to a pipe waits
          // for the reader). process.stdout is not touched: it would make fd 1 non-blocking.
          await writeJsonList(order.length, (i, out) => rowJson(records[order[i]], out), (chunk) => writeAll(1, chunk));
          span('rows + write');
          // All of it is written: exit now instead of closing the kernel source, whose reader
          // thread takes up to its 100 ms poll to stop (the kernel detaches the programs as the
          // process goes). Not after console.log: a pipe's pending writes would be lost.
          process.exit();
        }
        const row = listRows(readers);
        const rows = order.map((i) => row(records[i]) as unknown as Row);
        console.log(o.json ? json(rows) : connectionTable(rows, terminalLayout()));
        span('rows + write');
      } finally {
        service.close();
      }
    });

  p.command('explain')
    .description('explain the verdict of one connection, e.g. tcpdir explain 127.0.0.1:22 10.0.0.5:51234')
    .argument('<local>', 'local endpoint ADDR:PORT ([v6]:PORT)')
    .argument('<remote>', 'remote endpoint ADDR:PORT ([v6]:PORT)')
    .addOption(sourceOption())
    .option('--no-kernel-evidence', 'do not load the eBPF kernel-evidence source')
    .option('--no-conntrack', "do not read netfilter's conntrack tables (evidence and NAT views)")
    .option('--json', 'print the verdict as JSON')
    .addOption(allNamespacesOption())
    .action(async (local: string, remote: string, o) => {
      const [la, lp] = parseEndpoint('local', local);
      const [ra, rp] = parseEndpoint('remote', remote);
      const v = await query<Row['verdict'] | null>(o, 'verdict', { localAddress: la, localPort: lp, remoteAddress: ra, remotePort: rp }, true);
      if (!v) {
        if (o.json) console.log('null');
        console.error(`tcpdir: ${explain(local, remote, v)}`);
        process.exitCode = EXIT_NOT_FOUND;
        return;
      }
      console.log(o.json ? json(v) : explain(local, remote, v, terminalLayout().width));
    });
  p.command('namespaces')
    .description('list the network namespaces tcpdir covers, how each was read, and which it could not read')
    .addOption(sourceOption())
    .option('--json', 'print JSON (the GraphQL/REST shape)')
    .action(async (o) => {
      // The kernel programs are loaded only for --source ebpf (the iterator is one of them): no
      // verdicts here, so the other sources do without their start-up.
      const list = await query<NamespaceRow[]>({ ...o, kernelEvidence: o.source === 'ebpf', allNamespaces: true }, 'namespaces', {});
      console.log(o.json ? json(list) : namespaceTable(list, terminalLayout()));
    });
  p.command('watch')
    .description('connections as they open and close, from a running tcpdir serve (its /api/v1/events)')
    .option('--url <url>', 'the server', 'http://127.0.0.1:4000')
    .option('--token <token>', 'bearer token (default $TCPDIR_TOKEN)')
    .addOption(directionOption())
    .option('--port <n>', 'local or remote port', int('port', 0, 65535))
    .addOption(netnsOption())
    .option('--min-confidence <p>', 'only verdicts at least this sure', confidence)
    .option('--json', 'print NDJSON (one event per line)')
    .action(async (o) => {
      const q = new URLSearchParams();
      if (o.direction) q.set('direction', o.direction);
      if (o.port !== undefined) q.set('port', String(o.port));
      if (o.netns) q.set('netns', o.netns);
      if (o.minConfidence !== undefined) q.set('minConfidence', String(o.minConfidence));
      const token = o.token ?? process.env.TCPDIR_TOKEN;
      const res = await fetch(`${o.url.replace(/\/$/, '')}/api/v1/events?${q}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })
        .catch((e: Error & { cause?: { code?: string } }) => {
          // fetch says only "fetch failed": the reason is in its cause.
          const why = e.cause?.code ?? e.cause?.toString() ?? e.message;
          throw new Error(`cannot reach tcpdir serve at ${o.url} (${why}): start it (tcpdir serve), or give --url`);
        });
      if (res.status === 401) throw new Error(`${o.url} needs a token: give --token or set TCPDIR_TOKEN`);
      if (!res.ok || !res.body) {
        // tcpdir's error envelope: its message (history off, a bad --netns), not the JSON.
        const text = await res.text();
        let said: unknown;
        try {
          said = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
        } catch {
          said = undefined;
        }
        throw new Error(`${o.url} answered ${res.status}: ${typeof said === 'string' ? said : text.slice(0, 300)}`);
      }
      const { width } = terminalLayout();
      for await (const e of serverSentEvents(res.body)) {
        if (e.event === 'dropped') throw new Error(`the server dropped this watch: ${e.data}`);
        const rec = JSON.parse(e.data) as EventLine;
        console.log(o.json ? e.data : eventLine(rec, width));
      }
    });
  p.command('history')
    .description('connections recorded by tcpdir serve (reads its database; the server need not run)')
    .option('--data-dir <dir>', 'where serve keeps the history database', defaultDataDir())
    .option('--since <time>', 'ISO-8601 time or a duration back from now (15m, 1h, 7d)', '1h')
    .option('--until <time>', 'ISO-8601 time or a duration back from now')
    .addOption(directionOption())
    .option('--port <n>', 'local or remote port', int('port', 0, 65535))
    .option('--local-port <port>', 'local port', int('local-port', 0, 65535))
    .option('--remote-port <port>', 'remote port', int('remote-port', 0, 65535))
    .addOption(remoteOption())
    .option('--process <command|pid>', 'command or pid')
    .addOption(netnsOption().argParser(historyNetns))
    .option('--min-confidence <p>', 'only verdicts at least this sure', confidence)
    .addOption(new Option('--open', 'only connections still open').conflicts('closed'))
    .option('--closed', 'only connections that have closed')
    .option('--limit <n>', 'at most this many rows', int('limit', 1, 10_000), 100)
    .option('--json', 'print JSON lines (the REST shape)')
    .action(async (o) => {
      const { HistoryStore } = await import('../history');
      await import('reflect-metadata'); // before the resolver's decorators run: type-graphql requires it
      const { historyRecord } = await import('../resolvers/history.resolver');
      const path = historyPath(o.dataDir);
      if (path === ':memory:' || !existsSync(path)) throw new Error(`no history database at ${path} (run tcpdir serve, or give --data-dir)`);
      const store = HistoryStore.open({ path });
      try {
        const now = Date.now();
        const page = store.query({
          since: parseTime('since', o.since, now), until: parseTime('until', o.until, now),
          direction: o.direction, port: o.port, localPort: o.localPort, remotePort: o.remotePort, remoteAddress: o.remote,
          process: o.process, // a command, or digits: a pid or an all-digit command (the store reads both)
          netns: o.netns, minConfidence: o.minConfidence, open: o.open ? true : o.closed ? false : undefined,
        }, { limit: o.limit });
        const recs = page.lives.map(historyRecord);
        if (o.json) for (const r of recs) console.log(JSON.stringify(r));
        else console.log(historyTable(recs, terminalLayout()));
      } finally {
        store.close();
      }
    });
  return p;
}

/** Parses a text/event-stream body into { event, data } messages. */
async function* serverSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (e) {
    console.error(`tcpdir: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
