import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';

/**
 * Every `error.code` an HTTP client of tcpdir can get (GraphQL answers carry theirs in
 * `errors[].extensions.code`). Nothing else reaches a client: not Fastify's FST_ERR_* codes.
 */
export const ERROR_CODES = {
  BAD_USER_INPUT: 'A parameter is wrong; `parameter` names it.',
  BAD_REQUEST: 'The request itself is malformed (its URL encoding, body or headers).',
  UNAUTHENTICATED: 'Missing or wrong bearer token (when the server has one).',
  NOT_FOUND: 'No such route, or no such connection.',
  HISTORY_OFF: 'History is off on this server (started with --no-history).',
  METHOD_NOT_ALLOWED: 'The path exists but not with this method; `Allow` lists those it takes.',
  REQUEST_TIMEOUT: 'The request was not received in time.',
  PAYLOAD_TOO_LARGE: 'The request body is over the server\'s limit (64 KiB by default).',
  URI_TOO_LONG: 'A path segment is over 200 characters.',
  UNSUPPORTED_MEDIA_TYPE: 'The body is not application/json, or has a Content-Encoding (only identity is taken).',
  HEADERS_TOO_LARGE: 'The request head is over 16 KiB.',
  RATE_LIMITED: 'Over the per-client request rate (--rate-limit); `Retry-After` says when to retry.',
  INTERNAL_SERVER_ERROR: 'tcpdir failed; the log has the detail.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; parameter: string | null };
}

export function errorBody(code: ErrorCode, message: string, parameter: string | null = null): ErrorBody {
  return { error: { code, message, parameter } };
}

export function sendError(reply: FastifyReply, status: number, code: ErrorCode, message: string, parameter: string | null = null): FastifyReply {
  return reply.code(status).send(errorBody(code, message, parameter));
}

/** Our words for Fastify's own errors: its messages may echo the URL or the body. */
const FRAMEWORK: Record<string, [number, ErrorCode, string]> = {
  FST_ERR_BAD_URL: [400, 'BAD_REQUEST', 'the path is not valid percent-encoded UTF-8'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'URI_TOO_LONG', 'a path segment is over 200 characters'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE', 'the request body is over this server\'s limit'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'BAD_REQUEST', 'the body\'s size does not match its Content-Length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'BAD_REQUEST', 'the body is empty but its Content-Type is application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'BAD_REQUEST', 'the body is not valid JSON'],
};

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHENTICATED', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 408: 'REQUEST_TIMEOUT', 413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'RATE_LIMITED', 431: 'HEADERS_TOO_LARGE',
};

/**
 * Any error that reached Fastify's error handler (or its router) as tcpdir's status and body.
 * A 4xx keeps its status; its code and message are kept only when the code is one of ours (a
 * rate limit's RATE_LIMITED), else they are replaced: known framework errors by FRAMEWORK,
 * others by the status's name. Anything else is a 500 that says nothing of its cause.
 */
export function publicError(err: { statusCode?: number; code?: string; message?: string }): { status: number; body: ErrorBody } {
  const known = err.code !== undefined ? FRAMEWORK[err.code] : undefined;
  if (known) return { status: known[0], body: errorBody(known[1], known[2]) };
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 500) return { status, body: errorBody('INTERNAL_SERVER_ERROR', 'internal error') };
  if (err.code !== undefined && err.code in ERROR_CODES && typeof err.message === 'string') return { status, body: errorBody(err.code as ErrorCode, err.message) };
  return { status, body: errorBody(BY_STATUS[status] ?? 'BAD_REQUEST', (STATUS_CODES[status] ?? 'bad request').toLowerCase()) };
}

/**
 * Node's HTTP parser refused the request (bad framing, a head over 16 KiB, a timeout): answer in
 * the usual envelope, on the raw socket as Fastify's default handler does, and close.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'REQUEST_TIMEOUT', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'HEADERS_TOO_LARGE', 'the request head is over 16 KiB']
        : [400, 'BAD_REQUEST', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
