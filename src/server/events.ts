import type { FastifyInstance } from 'fastify';
import type { LifeEvent } from '../history';
import { eventFilter, InputError, type HistoryService } from '../service';
import { historyRecord } from '../resolvers/history.resolver';
import { sendError } from './http-errors';
import { CONFIDENCE, parseParams, PORT, type ParamSpec } from './rest-params';
import { DIRECTIONS } from '../model';

/** The filters of GET /api/v1/events (also in /api/openapi.json). */
export const EVENT_PARAMS: ParamSpec = {
  direction: { type: 'enum', values: DIRECTIONS, example: 'INBOUND' }, port: { ...PORT, example: 8080 }, netns: { type: 'string' },
  minConfidence: { ...CONFIDENCE, example: 0.9 },
};

/** Events a subscriber may have unsent before it is dropped (it cannot keep up). */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

/**
 * GET /api/v1/events: connection lives as they open and close, as Server-Sent Events (event:
 * OPENED | CLOSED | VERDICT_CHANGED, data: the history record). A subscriber whose socket
 * cannot take them as fast as they come is sent a final `dropped` event and disconnected,
 * never allowed to hold the recorder up or grow memory.
 */
export function registerEvents(app: FastifyInstance, history: HistoryService | null): void {
  app.get('/api/v1/events', async (req, reply) => {
    let match: (e: LifeEvent) => boolean;
    try {
      match = eventFilter(parseParams(req.query as Record<string, unknown>, EVENT_PARAMS));
    } catch (e) {
      if (e instanceof InputError) return sendError(reply, 400, 'BAD_USER_INPUT', e.message, e.parameter);
      throw e;
    }
    if (!history) return sendError(reply, 404, 'HISTORY_OFF', 'history is off on this server (started with --no-history)');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // HEAD: the headers, and done (Node sends a HEAD answer's head only at end(): it hung).
    if (req.method === 'HEAD') return void res.end();
    res.write(': tcpdir connection events\n\n');
    let closed = false;
    const stop = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(ping);
    };
    const unsubscribe = history.subscribe((e) => {
      if (closed || !match(e)) return;
      if (res.writableLength > MAX_BACKLOG_BYTES) {
        res.end(`event: dropped\ndata: ${JSON.stringify({ reason: 'the subscriber did not read events as fast as they came' })}\n\n`);
        stop();
        return;
      }
      const rec = { ...historyRecord({ ...e.life, id: e.life.key }), type: e.type, at: new Date(e.at) };
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(rec)}\n\n`);
    });
    // A comment now and then: proxies keep the stream open, and a gone client is noticed.
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    ping.unref();
    res.on('close', stop);
    res.on('error', stop);
  });
}
