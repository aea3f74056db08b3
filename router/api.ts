import { randomUUID, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { categoryCodes, citizenEvent, locatePath, CASE_LIGHTS, CONSOLE_ACTIONS, OPEN_STATES, type CaseAction, type CaseRecord } from '../domain/index.ts';
import { httpErrorAnswer, sendHttpError } from '../core/index.ts';
import { CaseActionError } from './errors.ts';
import type { CaseRouter } from './router.ts';

const Open311Request = Type.Object({
  service_request_id: Type.String(),
  status: Type.Enum(['open', 'closed']),
  status_notes: Type.Optional(Type.String()),
  service_name: Type.String(),
  service_code: Type.String(),
  description: Type.Optional(Type.String()),
  agency_responsible: Type.String(),
  requested_datetime: Type.String(),
  updated_datetime: Type.String(),
  expected_datetime: Type.Optional(Type.String()),
  lat: Type.Number(),
  long: Type.Number(),
  media_url: Type.Optional(Type.String()),
  // gridwatch extensions: the category's own code and its local code beside the standard's service_code
  category: Type.String(),
  local_code: Type.Optional(Type.String()),
  state: Type.String(),
  light: Type.String(),
  reports: Type.Integer(),
  area_path: Type.Array(Type.String()),
  revision: Type.Integer(),
});
const ErrorBody = Type.Array(Type.Object({ code: Type.Integer(), description: Type.String() }));

/**
 * Open311 clients read GeoReport v2's error list, `[{ code, description }]`, so the Open311 routes
 * answer every error (schema validation included) in it: the one exception to the error body of
 * every other route (core/http-error.ts).
 */
function open311Errors(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const a = httpErrorAnswer(err);
  if (a.internal) req.log.error({ err }, 'Open311 request failed');
  return reply.code(a.status).send([{ code: a.status, description: a.message }]);
}

/**
 * The router's HTTP API on the engine's fastify: Open311 GeoReport v2 style requests for
 * citizens and hotlines, and case actions for the console.
 */
export function registerRouterApi(app: FastifyInstance, router: CaseRouter, opts: { caseRoutes?: boolean } = {}): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const city = router.city;
  if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
  }

  const toOpen311 = (c: CaseRecord): Static<typeof Open311Request> => {
    const cat = city.categories.get(c.category);
    const last = c.history[c.history.length - 1];
    return {
      service_request_id: c.id,
      status: OPEN_STATES.has(c.state) ? 'open' : 'closed',
      ...(last?.reason ? { status_notes: last.reason } : {}),
      service_name: cat?.name_en ?? c.category,
      service_code: cat?.standard_code ?? c.category,
      ...(cat?.local_code ? { local_code: cat.local_code } : {}),
      category: c.category,
      ...(c.reports[0]?.description ? { description: c.reports[0].description } : {}),
      agency_responsible: c.department,
      requested_datetime: c.created_at,
      updated_datetime: c.updated_at,
      ...(c.deadline ? { expected_datetime: c.deadline.at } : {}),
      lat: c.place.lat,
      long: c.place.lon,
      ...(c.reports.find((r) => r.evidence.length)?.evidence[0] ? { media_url: c.reports.find((r) => r.evidence.length)!.evidence[0]! } : {}),
      state: c.state,
      light: CASE_LIGHTS[c.state],
      reports: c.report_count,
      area_path: [...c.place.path],
      revision: router.revisionOf(c.id) ?? 0,
    };
  };

  api.get('/open311/v2/services', {
    errorHandler: open311Errors,
    schema: { response: { 200: Type.Array(Type.Object({ service_code: Type.String(), service_name: Type.String(), description: Type.String(), metadata: Type.Boolean(), type: Type.String(), keywords: Type.String(), group: Type.String() })) } },
  }, async () => [...city.categories.values()].map((c) => ({
    // Other systems speak the standard's codes; the category's own code and its local code are keywords, and every one is accepted.
    service_code: c.standard_code ?? c.code, service_name: c.name_en, description: `${c.name_zh} / ${c.name_en}`, metadata: false, type: 'realtime',
    keywords: [c.code, c.standard_code, c.local_code].filter(Boolean).join(','), group: c.parent ?? 'city',
  })));

  api.post('/open311/v2/requests', {
    errorHandler: open311Errors,
    schema: {
      body: Type.Object({
        service_code: Type.String({ minLength: 1 }),
        lat: Type.Number({ minimum: -90, maximum: 90 }),
        long: Type.Number({ minimum: -180, maximum: 180 }),
        description: Type.Optional(Type.String({ maxLength: 4000 })),
        address_string: Type.Optional(Type.String()),
        media_url: Type.Optional(Type.String()),
        email: Type.Optional(Type.String()),
        first_name: Type.Optional(Type.String()),
        last_name: Type.Optional(Type.String()),
        phone: Type.Optional(Type.String()),
        device_id: Type.Optional(Type.String()),
        account_id: Type.Optional(Type.String()),
        api_key: Type.Optional(Type.String()),
        source: Type.Optional(Type.Enum(['citizen', 'hotline'])),
      }),
      response: { 201: Type.Array(Type.Object({ service_request_id: Type.Optional(Type.String()), token: Type.String(), service_notice: Type.String() })), 400: ErrorBody },
    },
  }, async (req, reply) => {
    const b = req.body;
    const category = city.categoryByCode.get(b.service_code)?.code;
    if (!category) return reply.code(400).send([{ code: 400, description: `unknown service_code ${JSON.stringify(b.service_code)}; see GET /open311/v2/services` }]);
    const path = locatePath(city, b.lat, b.long);
    const key = req.headers['idempotency-key'];
    const id = `o311-${typeof key === 'string' && key ? createHash('sha256').update(key).digest('hex').slice(0, 20) : randomUUID()}`;
    const event = citizenEvent({
      id, channel: b.source ?? 'citizen', reporter: b.account_id ?? b.device_id ?? b.email ?? 'anonymous', category, codes: categoryCodes(city, category),
      at: new Date(), lat: b.lat, lon: b.long, path, address: b.address_string, description: b.description, evidence: b.media_url ? [b.media_url] : [],
    });
    await router.publish(event);
    // The case is made asynchronously from the stream; wait briefly so that the answer can name it.
    const until = Date.now() + 3000;
    while (router.casesOfEvent(id).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const caseId = router.casesOfEvent(id)[0];
    return reply.code(201).send([{ ...(caseId ? { service_request_id: caseId } : {}), token: id, service_notice: path.length ? `received; grid cell ${path[path.length - 1]}` : 'received; the place is outside the grid and goes to the command centre' }]);
  });

  api.get('/open311/v2/requests', {
    errorHandler: open311Errors,
    schema: {
      querystring: Type.Object({
        service_request_id: Type.Optional(Type.String()),
        service_code: Type.Optional(Type.String()),
        start_date: Type.Optional(Type.String({ format: 'date-time' })),
        end_date: Type.Optional(Type.String({ format: 'date-time' })),
        status: Type.Optional(Type.Enum(['open', 'closed'])),
        state: Type.Optional(Type.String()),
        department: Type.Optional(Type.String()),
        area: Type.Optional(Type.String()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
      }),
      response: { 200: Type.Array(Open311Request) },
    },
  }, async (req) => {
    const q = req.query;
    const list = router.list({
      ...(q.service_request_id ? { ids: q.service_request_id.split(',').flatMap((s) => (router.get(s) ? [s] : router.casesOfEvent(s))) } : {}),
      ...(q.service_code ? { category: city.categoryByCode.get(q.service_code)?.code ?? q.service_code } : {}),
      ...(q.status ? { open: q.status === 'open' } : {}),
      ...(q.state ? { state: q.state } : {}),
      ...(q.department ? { department: q.department } : {}),
      ...(q.area ? { area: q.area } : {}),
      ...(q.start_date ? { from: new Date(q.start_date) } : {}),
      ...(q.end_date ? { to: new Date(q.end_date) } : {}),
      limit: q.limit ?? 100,
    });
    return list.map(toOpen311);
  });

  api.get('/open311/v2/requests/:id', {
    errorHandler: open311Errors,
    schema: { params: Type.Object({ id: Type.String() }), response: { 200: Type.Array(Open311Request), 404: ErrorBody } },
  }, async (req, reply) => {
    const id = req.params.id.replace(/\.json$/, '');
    const c = router.get(id) ?? router.get(router.casesOfEvent(id)[0] ?? '');
    if (!c) return reply.code(404).send([{ code: 404, description: `no request ${id}` }]);
    return [toOpen311(c)];
  });

  // Without the console: unauthenticated case views and actions, for tools on a trusted network.
  // With the console, it serves /api/cases itself, behind log-in, roles and CSRF checks.
  if (opts.caseRoutes === false) return;

  // The console's view of one case: the whole record with its history.
  api.get('/api/cases/:id', { schema: { params: Type.Object({ id: Type.String() }) } }, async (req, reply) => {
    const c = router.get(req.params.id);
    if (!c) return sendHttpError(reply, 404, 'ROUTER_UNKNOWN_CASE', `no case ${req.params.id}`);
    return { ...c, revision: router.revisionOf(c.id), light: CASE_LIGHTS[c.state] };
  });

  api.post('/api/cases/:id/:action', {
    schema: {
      params: Type.Object({ id: Type.String(), action: Type.Enum([...CONSOLE_ACTIONS]) }),
      body: Type.Object({
        actor: Type.String({ minLength: 1 }),
        reason: Type.Optional(Type.String()),
        department: Type.Optional(Type.String({ description: 'where to dispatch or transfer it' })),
        revision: Type.Optional(Type.Integer({ minimum: 1 })),
      }),
    },
  }, async (req, reply) => {
    const { id, action } = req.params;
    try {
      const e = await router.consoleAction(id, { action: action as CaseAction, actor: req.body.actor, reason: req.body.reason, to_department: req.body.department, revision: req.body.revision });
      return { status: 'applied', case: { ...e.record, revision: e.revision, light: CASE_LIGHTS[e.record.state] } };
    } catch (err) {
      if (err instanceof CaseActionError) return sendHttpError(reply, err.status, err.code, err.message);
      throw err;
    }
  });
}
