import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { handleHttpErrors, type HealthRegistry, type Logger, type Registry } from '../core/index.ts';

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
  readonly health: HealthRegistry;
  readonly metrics: Registry;
}

/**
 * The engine's HTTP server: the public `/healthz` here (`registerMetricsRoute` adds `/metrics`); the console, the Open311 API and
 * the statistics API register on it as plugins. Its error and not-found handlers answer every
 * error with the one body, `{ "error": { "code", "message" } }` (core/http-error.ts).
 */
export function createHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({ loggerInstance: opts.log.child({ component: 'http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  handleHttpErrors(app);

  app.get('/healthz', {
    schema: {
      response: {
        200: { type: 'object', properties: { status: { type: 'string' }, components: { type: 'object', additionalProperties: true } }, required: ['status', 'components'] },
        503: { type: 'object', properties: { status: { type: 'string' }, components: { type: 'object', additionalProperties: true } }, required: ['status', 'components'] },
      },
    },
  }, async (_req, reply) => {
    const report = opts.health.report();
    // Degraded still serves; only a component that is down makes the node unhealthy.
    return reply.code(report.status === 'down' ? 503 : 200).send(report);
  });

  return app;
}

/** `/metrics` for Prometheus, behind `guard` (a console session with `tuning`, or the ops token). */
export function registerMetricsRoute(app: FastifyInstance, metrics: Registry, guard: (req: FastifyRequest, reply: FastifyReply) => Promise<void>): void {
  app.get('/metrics', { preHandler: guard }, async (_req, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.metrics();
  });
}
