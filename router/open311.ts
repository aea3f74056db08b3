import { randomUUID, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { categoryCodes, citizenEvent, locatePath, type CaseRecord } from '../domain/index.ts';
import { httpErrorAnswer } from '../core/index.ts';
import type { CaseRouter } from './router.ts';
import { clientByKey, mediaUrlProblem, toOpen311, toXml, updatesOf, MAX_MEDIA_URL, type Open311Caller, type Open311Client } from './open311-format.ts';

export interface Open311Options {
  /** the configured clients and their keys (`services.open311.clients`) */
  readonly clients: readonly Open311Client[];
  readonly jurisdictionId?: string | undefined;
  /** new requests per client per minute */
  readonly postPerMinute?: number;
  /** other callers: the engine lets a console session read (a clerk its department only) */
  readonly caller?: (req: FastifyRequest) => Open311Caller | null;
}

type Format = 'json' | 'xml';
const FORMATS: readonly ('' | `.${Format}`)[] = ['', '.json', '.xml'];

function answer(reply: FastifyReply, format: Format, status: number, root: string, item: string, list: readonly object[]): FastifyReply {
  if (format === 'xml') return reply.code(status).type('text/xml; charset=utf-8').send(toXml(root, item, list));
  return reply.code(status).send(list);
}

function refuse(reply: FastifyReply, format: Format, status: number, description: string): FastifyReply {
  return answer(reply, format, status, 'errors', 'error', [{ code: status, description }]);
}

const formatOf = (req: FastifyRequest): Format => (/\.xml(\?|$)/.test(req.url.split('?')[0]!) ? 'xml' : 'json');

/**
 * Open311 clients read GeoReport v2's error list, `[{ code, description }]` (or `<errors>` in
 * XML), so these routes answer every error (schema validation included) in it: the one
 * exception to the error body of every other route (core/http-error.ts).
 */
function open311Errors(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const a = httpErrorAnswer(err);
  if (a.internal) req.log.error({ err }, 'Open311 request failed');
  return refuse(reply, formatOf(req), a.status, a.message);
}

const Query = {
  api_key: Type.Optional(Type.String({ maxLength: 256 })),
  jurisdiction_id: Type.Optional(Type.String({ maxLength: 64 })),
};

/**
 * The Open311 GeoReport v2 API (`/open311/v2/…`, each also as `.json` and `.xml`): services
 * (public: the city's categories), requests (read and POST, with a key) and FixMyStreet's
 * `servicerequestupdates`. docs/security.md says who may do what.
 */
export function registerOpen311(app: FastifyInstance, router: CaseRouter, o: Open311Options): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const city = router.city;
  const perMinute = o.postPerMinute ?? 30;
  const buckets = new Map<string, { tokens: number; at: number }>();
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
  }

  /** The caller, or an answer already sent (401, 403, 404 for another jurisdiction). */
  const check = (req: FastifyRequest, reply: FastifyReply, need: 'read' | 'report'): Open311Caller | null => {
    const format = formatOf(req);
    const params = { ...(req.query as Record<string, unknown>), ...(typeof req.body === 'object' && req.body ? req.body as Record<string, unknown> : {}) };
    const j = params.jurisdiction_id;
    if (o.jurisdictionId && j !== undefined && j !== o.jurisdictionId) return void refuse(reply, format, 404, `unknown jurisdiction_id ${JSON.stringify(j)}; this endpoint serves ${o.jurisdictionId}`), null;
    const header = req.headers['x-api-key'];
    const key = typeof params.api_key === 'string' ? params.api_key : typeof header === 'string' ? header : undefined;
    const caller = clientByKey(o.clients, key) ?? (key === undefined ? o.caller?.(req) ?? null : null);
    if (!caller) {
      reply.header('www-authenticate', 'ApiKey realm="open311"');
      return void refuse(reply, format, 401, key === undefined ? 'send your api_key (ask the city for one), or log in to the console' : 'unknown api_key'), null;
    }
    if (!caller[need]) return void refuse(reply, format, 403, need === 'report' ? `client ${caller.name} may not post requests` : `client ${caller.name} may not read requests`), null;
    return caller;
  };

  const visible = (caller: Open311Caller, c: CaseRecord | null | undefined): c is CaseRecord => !!c && (!caller.department || c.department === caller.department);

  const takeToken = (name: string): number => {
    const now = Date.now();
    const b = buckets.get(name) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) * perMinute) / 60_000);
    b.at = now;
    buckets.set(name, b);
    if (b.tokens < 1) return Math.ceil(((1 - b.tokens) * 60) / perMinute);
    b.tokens -= 1;
    return 0;
  };

  for (const ext of FORMATS) {
    api.get(`/open311/v2/services${ext}`, { errorHandler: open311Errors, schema: { querystring: Type.Object(Query) } }, async (req, reply) => {
      const list = [...city.categories.values()].map((c) => ({
        // Other systems speak the standard's codes; the category's own code and its local code are keywords, and every one is accepted.
        service_code: c.standard_code ?? c.code, service_name: c.name_en, description: `${c.name_zh} / ${c.name_en}`, metadata: false, type: 'realtime',
        keywords: [c.code, c.standard_code, c.local_code].filter(Boolean).join(','), group: c.parent ?? 'city',
      }));
      return answer(reply, formatOf(req), 200, 'services', 'service', list);
    });

    api.post(`/open311/v2/requests${ext}`, {
      errorHandler: open311Errors,
      bodyLimit: 64 * 1024,
      schema: {
        querystring: Type.Object(Query),
        body: Type.Object({
          ...Query,
          service_code: Type.String({ minLength: 1, maxLength: 64 }),
          lat: Type.Number({ minimum: -90, maximum: 90 }),
          long: Type.Number({ minimum: -180, maximum: 180 }),
          description: Type.Optional(Type.String({ maxLength: 4000 })),
          address_string: Type.Optional(Type.String({ maxLength: 500 })),
          address_id: Type.Optional(Type.String({ maxLength: 100 })),
          media_url: Type.Optional(Type.String({ maxLength: MAX_MEDIA_URL })),
          email: Type.Optional(Type.String({ maxLength: 254 })),
          first_name: Type.Optional(Type.String({ maxLength: 100 })),
          last_name: Type.Optional(Type.String({ maxLength: 100 })),
          phone: Type.Optional(Type.String({ maxLength: 50 })),
          device_id: Type.Optional(Type.String({ maxLength: 100 })),
          account_id: Type.Optional(Type.String({ maxLength: 100 })),
          source: Type.Optional(Type.Enum(['citizen', 'hotline'])),
        }, { additionalProperties: false }),
      },
    }, async (req, reply) => {
      const format = formatOf(req);
      const caller = check(req, reply, 'report');
      if (!caller) return reply;
      const wait = takeToken(caller.name);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        return refuse(reply, format, 429, `client ${caller.name} posts more than ${perMinute} requests a minute; retry in ${wait} s`);
      }
      const b = req.body;
      const category = city.categoryByCode.get(b.service_code)?.code;
      if (!category) return refuse(reply, format, 400, `unknown service_code ${JSON.stringify(b.service_code)}; see GET /open311/v2/services`);
      const mediaProblem = b.media_url ? mediaUrlProblem(b.media_url) : null;
      if (mediaProblem) return refuse(reply, format, 400, mediaProblem);
      const path = locatePath(city, b.lat, b.long);
      const key = req.headers['idempotency-key'];
      // An idempotency key is the client's own: two clients with the same key make two requests.
      const id = `o311-${typeof key === 'string' && key ? createHash('sha256').update(`${caller.name}\u0000${key}`).digest('hex').slice(0, 20) : randomUUID()}`;
      const reporter = `${caller.name}:${b.account_id ?? b.device_id ?? b.email ?? 'anonymous'}`;
      const event = citizenEvent({
        id, channel: b.source ?? 'citizen', reporter, category, codes: categoryCodes(city, category),
        at: new Date(), lat: b.lat, lon: b.long, path, address: b.address_string, description: b.description, evidence: b.media_url ? [b.media_url] : [],
      });
      await router.publish(event);
      // The case is made asynchronously from the stream; wait briefly so that the answer can name it.
      const until = Date.now() + 3000;
      while (router.casesOfEvent(id).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const caseId = router.casesOfEvent(id)[0];
      req.log.info({ client: caller.name, event: id, case: caseId }, 'Open311 request received');
      return answer(reply, format, 201, 'service_requests', 'request', [{ ...(caseId ? { service_request_id: caseId } : {}), token: id, service_notice: path.length ? `received; grid cell ${path[path.length - 1]}` : 'received; the place is outside the grid and goes to the command centre' }]);
    });

    api.get(`/open311/v2/requests${ext}`, {
      errorHandler: open311Errors,
      schema: {
        querystring: Type.Object({
          ...Query,
          service_request_id: Type.Optional(Type.String({ maxLength: 4000 })),
          service_code: Type.Optional(Type.String({ maxLength: 64 })),
          start_date: Type.Optional(Type.String({ format: 'date-time' })),
          end_date: Type.Optional(Type.String({ format: 'date-time' })),
          status: Type.Optional(Type.Enum(['open', 'closed'])),
          state: Type.Optional(Type.String({ maxLength: 32 })),
          department: Type.Optional(Type.String({ maxLength: 64 })),
          area: Type.Optional(Type.String({ maxLength: 64 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        }),
      },
    }, async (req, reply) => {
      const caller = check(req, reply, 'read');
      if (!caller) return reply;
      const q = req.query;
      if (caller.department && q.department && q.department !== caller.department) return answer(reply, formatOf(req), 200, 'service_requests', 'request', []);
      const department = caller.department ?? q.department;
      const list = router.list({
        ...(q.service_request_id ? { ids: q.service_request_id.split(',').slice(0, 200).flatMap((s) => (router.get(s) ? [s] : router.casesOfEvent(s))) } : {}),
        ...(q.service_code ? { category: city.categoryByCode.get(q.service_code)?.code ?? q.service_code } : {}),
        ...(q.status ? { open: q.status === 'open' } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(department ? { department } : {}),
        ...(q.area ? { area: q.area } : {}),
        ...(q.start_date ? { from: new Date(q.start_date) } : {}),
        ...(q.end_date ? { to: new Date(q.end_date) } : {}),
        limit: q.limit ?? 100,
      });
      return answer(reply, formatOf(req), 200, 'service_requests', 'request', list.map((c) => toOpen311(city, c, router.revisionOf(c.id) ?? 0, caller)));
    });

    api.get(`/open311/v2/servicerequestupdates${ext}`, {
      errorHandler: open311Errors,
      schema: {
        querystring: Type.Object({
          ...Query,
          start_date: Type.Optional(Type.String({ format: 'date-time' })),
          end_date: Type.Optional(Type.String({ format: 'date-time' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 1000 })),
        }),
      },
    }, async (req, reply) => {
      const caller = check(req, reply, 'read');
      if (!caller) return reply;
      const q = req.query;
      const from = q.start_date ? new Date(q.start_date).toISOString() : undefined;
      const to = q.end_date ? new Date(q.end_date).toISOString() : undefined;
      const cases = router.list({ ...(caller.department ? { department: caller.department } : {}), limit: 100_000 });
      const updates = cases.flatMap((c) => updatesOf(c, from, to, caller)).sort((a, b) => (a.updated_datetime < b.updated_datetime ? -1 : 1)).slice(0, q.limit ?? 1000);
      return answer(reply, formatOf(req), 200, 'service_request_updates', 'request_update', updates);
    });
  }

  api.get('/open311/v2/requests/:id', {
    errorHandler: open311Errors,
    schema: { params: Type.Object({ id: Type.String({ maxLength: 100 }) }), querystring: Type.Object(Query) },
  }, async (req, reply) => {
    const format = formatOf(req);
    const caller = check(req, reply, 'read');
    if (!caller) return reply;
    const id = req.params.id.replace(/\.(json|xml)$/, '');
    const c = router.get(id) ?? router.get(router.casesOfEvent(id)[0] ?? '');
    // Another department's case is reported missing, not forbidden: its existence is data too.
    if (!visible(caller, c)) return refuse(reply, format, 404, `no request ${id}`);
    return answer(reply, format, 200, 'service_requests', 'request', [toOpen311(city, c, router.revisionOf(c.id) ?? 0, caller)]);
  });
}
