import { isIP } from 'node:net';

/** Loopback hosts are safe to serve without a token; anything else exposes host data. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

export class UnsafeBindError extends Error {
  constructor(host: string) {
    super(`refusing to listen on ${host} without a token: tcpdir shows every connection and process on this host. Set --token or TCPDIR_TOKEN, or listen on 127.0.0.1.`);
    this.name = 'UnsafeBindError';
  }
}

export function assertSafeBind(host: string, token: string | undefined): void {
  if (!token && !isLoopbackHost(host)) throw new UnsafeBindError(host);
}
