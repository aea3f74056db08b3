import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CASE_LIGHTS, CONSOLE_ACTIONS, type CaseAction } from '../domain/index.ts';
import { sendHttpError } from '../core/index.ts';
import { CaseActionError } from './errors.ts';
import type { CaseRouter } from './router.ts';
import { registerOpen311, type Open311Options } from './open311.ts';

/**
 * The router's HTTP API on the engine's fastify: the Open311 GeoReport v2 API (`open311.ts`;
 * by default with the city's `services.open311` clients), and case actions for tools on a
 * trusted network when there is no console.
 */
export function registerRouterApi(app: FastifyInstance, router: CaseRouter, opts: { caseRoutes?: boolean; open311?: Open311Options } = {}): void {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const city = router.city;
  registerOpen311(app, router, opts.open311 ?? { clients: city.config.services.open311.clients, jurisdictionId: city.config.services.open311.jurisdiction_id, postPerMinute: city.config.services.open311.post_per_minute });

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
