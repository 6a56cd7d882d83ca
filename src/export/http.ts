import { Histogram, type Registry } from 'prom-client';

/** Label for requests no route matched: the raw URL would give every probe its own series. */
export const UNMATCHED_ROUTE = 'unmatched';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface RequestLabels {
  /** Route template (`/api/v1/connections/:id`), or undefined when no route matched. */
  route: string | undefined;
  method: string;
  statusCode: number;
}

/** Bounded labels: route templates only, 7 methods + OTHER, status classes 1xx..5xx. */
export function requestLabels(r: RequestLabels): { route: string; method: string; status_class: string } {
  const method = r.method.toUpperCase();
  const cls = Math.floor(r.statusCode / 100);
  return {
    route: r.route ?? UNMATCHED_ROUTE,
    method: METHODS.has(method) ? method : 'OTHER',
    status_class: cls >= 1 && cls <= 5 ? `${cls}xx` : 'other',
  };
}

/** tcpdir_http_request_duration_seconds; returns the observer the server's onResponse hook calls. */
export function httpMetrics(registry: Registry): (r: RequestLabels, seconds: number) => void {
  const h = new Histogram({
    name: 'tcpdir_http_request_duration_seconds',
    help: 'HTTP request latency, by route template, method and status class.',
    labelNames: ['route', 'method', 'status_class'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return (r, seconds) => h.observe(requestLabels(r), seconds);
}
