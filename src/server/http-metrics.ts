import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import { Tally } from '../runtime/metrics.js';

/**
 * `tasklane_http_requests_total` and `tasklane_http_request_duration_seconds` by method, route
 * and status. Counts are kept in plain numbers per (method, route, status) and handed to
 * prom-client when the registry is read: no label lookup per request.
 */
export function httpMetrics(app: FastifyInstance, registry: Registry): void {
  const tallies: Tally[] = [];
  const requests = new Counter({
    name: 'tasklane_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
    collect() {
      for (const t of tallies) t.flush();
    },
  });
  const duration = new Histogram({
    name: 'tasklane_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [registry],
  });

  const counted = new Map<string, { requests: { inc(): void }; duration: Histogram.Internal<string> }>();
  const figures = (method: string, route: string, status: number) => {
    const id = `${method} ${status} ${route}`;
    let f = counted.get(id);
    if (!f) {
      const child = requests.labels(method, route, String(status));
      if (counted.size >= 10_000) return { requests: child, duration: duration.labels(method, route) };
      const tally = new Tally(child);
      tallies.push(tally);
      f = { requests: tally, duration: duration.labels(method, route) };
      counted.set(id, f);
    }
    return f;
  };

  // A callback hook: no promise and no extra microtask per request.
  app.addHook('onResponse', (req, reply, done) => {
    const f = figures(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode);
    f.requests.inc();
    f.duration.observe(reply.elapsedTime / 1000);
    done();
  });
}
