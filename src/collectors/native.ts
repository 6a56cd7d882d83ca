import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * The one place that finds compiled addons. From dist/src/collectors/native.js the package
 * root is three levels up, so build/Release is `../../../build/Release`. Everything else
 * receives a binding as a value, so tests and alternative builds can pass their own.
 */
export const DEFAULT_NATIVE_DIR = resolve(__dirname, '..', '..', '..', 'build', 'Release');

export type AddonName = 'tcpdir_sockdiag' | 'tcpdir_kernel';

/** The addon could not be loaded: not built, built for another ABI, or a broken file. */
export class NativeUnavailableError extends Error {
  readonly code = 'NATIVE_UNAVAILABLE';
  constructor(readonly addon: AddonName, readonly path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeUnavailableError';
  }
}

/** What `tcpdir_sockdiag.node` resolves a dump to (native/sockdiag/addon.cc). */
export interface SockDiagDumpResult {
  /** `count` packed records of RECORD_SIZE bytes; layout in native/sockdiag/record.h. */
  records: Buffer;
  count: number;
  /** NLM_F_DUMP_INTR was still set after the one retry. */
  interrupted: boolean;
  /** 1, or 2 when the first dump was interrupted and repeated. */
  attempts: number;
}

export interface SockDiagDumpOptions {
  /** INET_DIAG_REQ_BYTECODE program; the kernel rejects invalid ones with EINVAL. */
  bytecode?: Buffer;
  /**
   * Ask for struct tcp_info (Socket.tcpInfo). Default false, as `ss -tan`: the kernel locks
   * every socket to fill its 280 bytes. The collector asks for it only without kernel evidence
   * (the syn-acked rule reads it).
   */
  tcpInfo?: boolean;
  /**
   * One TCPDIAG_GETSOCK request answered for both families in one walk of the host-wide TCP
   * hash, instead of one SOCK_DIAG_BY_FAMILY walk per family (addon default false;
   * readSockDiag defaults to true). Same records.
   */
  bothFamilies?: boolean;
  /**
   * Receives the packed records in batches (~5,000) while the dump runs, so decoding overlaps
   * the kernel's walk; the result's `records` then holds only the last, unsent ones. A streamed
   * dump is not retried on NLM_F_DUMP_INTR (it reports `interrupted`).
   */
  onChunk?: (records: Buffer) => void;
}

/** One namespace to read through dumpNamespaces: an nsfs file and the inode it must still have. */
export interface NetnsTarget {
  /** /run/netns/NAME or /proc/PID/ns/net. */
  path: string;
  /** Expected nsfs inode: a different one (pid reused) counts as vanished. */
  inode?: number;
}

/** What dumpNamespaces resolves to per target (native/sockdiag/netns.cc). */
export type NetnsDumpResult =
  | (SockDiagDumpResult & { portRange: string | null; reservedPorts: string | null; error?: undefined })
  | { error: { code: string; errno: number; syscall: string; message: string }; vanished: boolean };

export interface SockDiagBinding {
  /** Rejects with an Error carrying `code` ('EPERM'), negative `errno` and `syscall`. */
  dump(options?: SockDiagDumpOptions): Promise<SockDiagDumpResult>;
  /**
   * One dump per namespace, each through a diag socket created inside it by an addon-owned
   * thread, plus its ip_local_port_range / ip_local_reserved_ports text read from inside it.
   * Per-namespace failures are results, not rejections. Needs CAP_SYS_ADMIN to enter. `sockets:
   * false` reads only the sysctls (records empty).
   */
  dumpNamespaces?(targets: NetnsTarget[], options?: { tcpInfo?: boolean; sockets?: boolean }): Promise<NetnsDumpResult[]>;
  /** The socket links of one /proc/PID/fd directory, read in C on a pool thread, a batch at a time (proc-fd.ts's SocketFdsReader). */
  socketFds?(dir: string, pos: number, max: number): Promise<{ sockets: Float64Array; read: number; next: number }>;
  readonly RECORD_SIZE: number;
  readonly LAYOUT_VERSION: number;
}

const loaded = new Map<string, unknown>();

/** Loads `<dir>/<name>.node` once per path; throws NativeUnavailableError naming the file. */
export function loadNative<T>(name: AddonName, dir: string = DEFAULT_NATIVE_DIR): T {
  const path = resolve(dir, `${name}.node`);
  const hit = loaded.get(path);
  if (hit) return hit as T;
  if (!existsSync(path)) {
    throw new NativeUnavailableError(
      name,
      path,
      `native addon ${name} is not built: ${path} does not exist`,
    );
  }
  let binding: T;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    binding = require(path) as T;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new NativeUnavailableError(name, path, `native addon ${name} failed to load from ${path}: ${why}`, { cause: err });
  }
  loaded.set(path, binding);
  return binding;
}

export function loadSockDiag(dir?: string): SockDiagBinding {
  return loadNative<SockDiagBinding>('tcpdir_sockdiag', dir);
}

/** The addon's fd-table reader, or undefined without the addon (process attribution then reads links from JS). */
export function nativeSocketFds(dir?: string): SockDiagBinding['socketFds'] {
  try {
    return loadSockDiag(dir).socketFds;
  } catch {
    return undefined;
  }
}
