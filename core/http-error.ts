import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GridwatchError } from './errors.ts';

/**
 * The one body of every gridwatch HTTP error: a stable code a program can test, and a sentence
 * that says what is wrong and what to do. The Open311 routes are the one exception: they answer
 * the GeoReport v2 error list, `[{ "code": <status>, "description": "…" }]` (see
 * docs/architecture.md, "Conventions").
 */
export interface HttpErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** `HttpErrorBody` as a JSON schema, for routes' `response` schemas. */
export const HTTP_ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;

export function httpErrorBody(code: string, message: string): HttpErrorBody {
  return { error: { code, message } };
}

/** Answers `status` with the one error body. */
export function sendHttpError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send(httpErrorBody(code, message));
}

/** What a thrown error answers over HTTP; `internal` when it is not the caller's doing (logged). */
export interface HttpErrorAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly internal: boolean;
}

/** `BAD_REQUEST`, `PAYLOAD_TOO_LARGE`, `UNSUPPORTED_MEDIA_TYPE`…: the status's name as a code. */
function statusCode(status: number): string {
  return (STATUS_CODES[status] ?? 'Bad Request').toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}

/**
 * How a thrown error answers: a `GridwatchError` with an `httpStatus` by its status, code and
 * message; fastify's own 4xx errors (schema validation, a body that is not JSON or too large,
 * an unsupported content type) by their status, with fastify's sentence; any other
 * `GridwatchError` 500 with its code and message; anything else 500 `INTERNAL`, without its
 * message (that goes to the log).
 */
export function httpErrorAnswer(err: unknown): HttpErrorAnswer {
  if (err instanceof GridwatchError) {
    if (err.httpStatus !== undefined) return { status: err.httpStatus, code: err.code, message: err.message, internal: err.httpStatus >= 500 };
    return { status: 500, code: err.code, message: err.message, internal: true };
  }
  const e = err as { statusCode?: unknown; validation?: unknown; message?: unknown } | null;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 0;
  if (status >= 400 && status < 500) {
    const message = typeof e?.message === 'string' && e.message ? e.message : STATUS_CODES[status] ?? 'bad request';
    return { status, code: e?.validation ? 'BAD_REQUEST' : statusCode(status), message, internal: false };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error; see the engine log', internal: true };
}

/** A fastify error handler that answers every error with the one body. */
export function httpErrorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const a = httpErrorAnswer(err);
  if (a.internal) req.log.error({ err, url: req.url.split('?')[0], method: req.method }, 'HTTP request failed');
  return sendHttpError(reply, a.status, a.code, a.message);
}

/** A fastify not-found handler: 404 with the one body. */
export function httpNotFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendHttpError(reply, 404, 'NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}: check the method and the path`);
}

/**
 * Installs `httpErrorHandler` and `httpNotFoundHandler` on a server: once per server, on the
 * root instance, before any plugin registers (plugins inherit both).
 */
export function handleHttpErrors(app: FastifyInstance): void {
  app.setErrorHandler(httpErrorHandler);
  app.setNotFoundHandler(httpNotFoundHandler);
}
