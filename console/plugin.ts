import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendHttpError as fail, type Logger } from '../core/index.ts';
import { ZONE_TYPES, type City } from '../config/index.ts';
import type { ConsoleHub } from './hub.ts';
import { LiveViews } from './live-view.ts';
import { can, canSeeCase, type Permission } from './permissions.ts';
import { UserStore, type SessionStore, type Session } from './users.ts';
import { SESSION_COOKIE } from './guard.ts';
import type { LoginLimits } from './login-limits.ts';
import { DeviceCookies, PASSWORD_CHANGE_ROUTES, registerSessionRoutes } from './login-routes.ts';
import { attachLiveSocket } from './live-socket.ts';
import { ACTIONS_NEEDING_REASON, CONSOLE_ACTIONS, ROLES, type AlertArchive, type FrameSource, type ConsoleAction, type CaseActions, type DetectorStatsSource, type Role, type StatsSource, type TuningRow, type ZoneStore } from './types.ts';

export const WEB_DIST = fileURLToPath(new URL('./web/dist/', import.meta.url));
const COOKIE = SESSION_COOKIE;

/** Content-Security-Policy: scripts, styles and images only from the console itself; no inline script. */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export interface ConsoleOptions {
  readonly city: () => City;
  readonly log: Logger;
  readonly hub: ConsoleHub;
  readonly users: UserStore;
  readonly actions: CaseActions;
  readonly stats: StatsSource;
  readonly detectorStats?: DetectorStatsSource;
  readonly zones?: ZoneStore;
  /** alerts and evidence beyond this node's memory (the engine's ClickHouse and the other nodes) */
  readonly archive?: AlertArchive;
  /** frames of cameras another node ingests */
  readonly frames?: FrameSource;
  /** the console's sessions, shared with the guards of the engine's other APIs (`guard.ts`) */
  readonly sessions: SessionStore;
  /** log-in limits per address, per user and source, per user (`login-limits.ts`) */
  readonly limits: LoginLimits;
  readonly secureCookies?: boolean;
  /** the built web app; defaults to console/web/dist */
  readonly webDir?: string;
}

declare module 'fastify' {
  interface FastifyRequest { session: Session | null }
}

/**
 * The operator console on the engine's HTTP server: the web app, its JSON API and the live
 * websocket. Every `/api` route names the permission it needs; state-changing requests need the
 * session's CSRF token in `x-csrf-token` and a same-origin `Origin` when the browser sends one.
 */
export async function consolePlugin(app: FastifyInstance, o: ConsoleOptions): Promise<void> {
  const sessions = o.sessions;
  const webDir = o.webDir ?? WEB_DIST;
  await app.register(fastifyCookie);
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  app.decorateRequest('session', null);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('x-frame-options', 'DENY');
    if (!req.url.startsWith('/api/')) return;
    reply.header('cache-control', 'no-store');
    req.session = sessions.get(req.cookies[COOKIE]);
    if (req.session?.mustChangePassword && !PASSWORD_CHANGE_ROUTES.has(req.url.split('?')[0]!)) {
      return fail(reply, 403, 'CONSOLE_PASSWORD_CHANGE_REQUIRED', 'change the one-time password first (POST /api/password)');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // CSRF: SameSite=Strict cookies, plus the Origin check and the per-session token.
      const origin = req.headers.origin;
      if (origin && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) return fail(reply, 403, 'CONSOLE_CSRF', 'cross-origin request refused');
      if (req.url !== '/api/login' && (!req.session || req.headers['x-csrf-token'] !== req.session.csrf)) {
        return req.session ? fail(reply, 403, 'CONSOLE_CSRF', 'missing or wrong CSRF token; reload the console') : fail(reply, 401, 'CONSOLE_LOGIN', 'log in first');
      }
    }
  });

  const need = (p: Permission | null) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.session) return fail(reply, 401, 'CONSOLE_LOGIN', 'log in first');
    if (p && !can(req.session.actor, p)) return fail(reply, 403, 'CONSOLE_FORBIDDEN', `role ${req.session.actor.role} may not do this`);
  };

  // ---- session ----
  registerSessionRoutes(app, { users: o.users, sessions, limits: o.limits, devices: new DeviceCookies(), log: o.log, secureCookies: o.secureCookies ?? false });

  // ---- city (map layers) ----
  app.get('/api/city', { preHandler: need('map') }, async (req) => {
    const actor = req.session!.actor;
    const city = o.city();
    const areas = [...city.areas.values()].map((a) => ({ id: a.id, name: a.name, name_en: a.name_en, level: a.level, parent: a.parent, ring: a.ring }));
    const cameras = can(actor, 'cameras') ? city.config.cameras.map((c) => ({ id: c.id, name: c.name, lat: c.lat, lon: c.lon, cell: c.cell, heading_deg: c.heading_deg, image_size: c.image_size, zones: c.zones })) : [];
    const terminals = can(actor, 'terminals') ? city.config.terminals.map((t) => ({ id: t.id, worker: t.worker, role: t.role, cell: t.cell })) : [];
    return {
      name: city.config.city.name, areas, cameras, terminals,
      categories: city.config.categories.map((c) => ({ code: c.code, name: c.name_zh, name_en: c.name_en, ...(c.standard_code ? { standard_code: c.standard_code } : {}), ...(c.local_code ? { local_code: c.local_code } : {}) })),
      departments: city.config.departments.map((d) => ({ id: d.id, name: d.name_zh, name_en: d.name_en })),
      zoneTypes: [...ZONE_TYPES],
    };
  });

  // ---- alerts ----
  // The evidence of an alert, as long as it is kept (the archive's retention): from memory, this
  // node's disk, or the node that holds it. Operators see every alert's; a clerk only the evidence
  // of its own department's cases (the same answer as a case it may not see: 404).
  app.get<{ Params: { id: string } }>('/api/alerts/:id/evidence.jpg', {
    preHandler: need(null),
    schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,160}$' } } } },
  }, async (req, reply) => {
    const id = req.params.id;
    const actor = req.session!.actor;
    const none = () => fail(reply, 404, 'CONSOLE_NOT_FOUND', `no evidence for alert ${id}`);
    if (!can(actor, 'alerts') && ![...o.hub.cases.values()].some((c) => c.alerts.includes(id) && canSeeCase(actor, c))) return none();
    const send = (jpeg: Uint8Array) => reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength));
    const held = o.hub.evidence.get(id);
    if (held) return send(held);
    if (!o.archive) return none();
    let ref = o.hub.evidenceRefs.get(id);
    let ts = o.hub.alerts.get(id)?.alert.ts;
    if (!ref) {
      const found = await o.archive.find(id);
      ref = found?.evidence;
      ts = found?.alert.ts;
    }
    if (!ref) return none();
    if (ts !== undefined && Date.now() - ts > o.archive.retentionMs) return fail(reply, 410, 'CONSOLE_EVIDENCE_EXPIRED', `the evidence of alert ${id} is past its retention and was removed`);
    const jpeg = await o.archive.evidence(ref);
    if (!jpeg) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `the evidence of alert ${id} is not on node ${ref.node}, or that node did not answer`);
    return send(jpeg);
  });

  app.post<{ Params: { id: string } }>('/api/alerts/:id/confirm', { preHandler: need('alerts.decide') }, async (req, reply) => {
    const rec = o.hub.alerts.get(req.params.id);
    if (!rec) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `alert ${req.params.id} not found`);
    if (rec.status !== 'new') return fail(reply, 409, 'CONSOLE_ALERT_DECIDED', `alert ${rec.alert.id} is already ${rec.status}`);
    const c = await o.actions.confirmAlert(rec.alert, req.session!.actor);
    return { alert: o.hub.markAlert(rec.alert.id, 'confirmed', req.session!.actor.username, { caseId: c.id }), case: c };
  });

  app.post<{ Params: { id: string }; Body: { reason: string } }>('/api/alerts/:id/dismiss', {
    preHandler: need('alerts.decide'),
    schema: { body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } } },
  }, async (req, reply) => {
    const rec = o.hub.alerts.get(req.params.id);
    if (!rec) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `alert ${req.params.id} not found`);
    if (rec.status !== 'new') return fail(reply, 409, 'CONSOLE_ALERT_DECIDED', `alert ${rec.alert.id} is already ${rec.status}`);
    const alert = o.hub.markAlert(rec.alert.id, 'dismissed', req.session!.actor.username, { reason: req.body.reason });
    try {
      await o.actions.dismissAlert?.(rec.alert, req.session!.actor, req.body.reason);
    } catch (err) {
      o.log.error({ alert: rec.alert.id, err: (err as Error).message }, 'console: the case of a dismissed alert was not closed as invalid');
    }
    return { alert };
  });

  // ---- cases ----
  app.get<{ Querystring: { state?: string; department?: string; category?: string; cell?: string } }>('/api/cases', { preHandler: need('cases') }, async (req) => {
    const q = req.query;
    const cases = [...o.hub.cases.values()].filter((c) => canSeeCase(req.session!.actor, c)
      && (!q.state || c.state === q.state) && (!q.department || c.departments.includes(q.department))
      && (!q.category || c.category === q.category) && (!q.cell || c.path.includes(q.cell)));
    return { cases };
  });

  app.get<{ Params: { id: string } }>('/api/cases/:id', { preHandler: need('cases') }, async (req, reply) => {
    const c = o.hub.cases.get(req.params.id);
    // A case the actor may not see is reported as missing, not as forbidden: its existence is data too.
    if (!c || !canSeeCase(req.session!.actor, c)) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `case ${req.params.id} not found`);
    return { case: c, alerts: c.alerts.map((id) => o.hub.alerts.get(id)).filter(Boolean) };
  });

  app.post<{ Params: { id: string; action: string }; Body: { reason?: string; departments?: string[] } }>('/api/cases/:id/actions/:action', {
    preHandler: need('cases'),
    schema: { body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 500 }, departments: { type: 'array', items: { type: 'string' }, maxItems: 20 } } } },
  }, async (req, reply) => {
    const actor = req.session!.actor;
    const action = req.params.action as ConsoleAction;
    if (!CONSOLE_ACTIONS.includes(action)) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `no case action ${action}`);
    const c = o.hub.cases.get(req.params.id);
    if (!c || !canSeeCase(actor, c)) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `case ${req.params.id} not found`);
    if (!can(actor, `case.${action}`)) return fail(reply, 403, 'CONSOLE_FORBIDDEN', `role ${actor.role} may not ${action} a case`);
    const reason = req.body?.reason?.trim() ?? '';
    if (action === 'transfer' && !o.city().departments.has(req.body?.departments?.[0] ?? '')) return fail(reply, 400, 'CONSOLE_BAD_REQUEST', 'transfer needs a known department in departments[0]');
    if (ACTIONS_NEEDING_REASON.has(action) && !reason) return fail(reply, 400, 'CONSOLE_REASON_NEEDED', `${action} needs a reason`);
    const a = o.actions;
    const next = action === 'dispatch' ? await a.dispatch(c.id, actor, req.body?.departments)
      : action === 'return' ? await a.returnCase(c.id, actor, reason)
      : action === 'escalate' ? await a.escalate(c.id, actor)
      : action === 'close' ? await a.verifyClose(c.id, actor)
      : action === 'file' ? await a.file(c.id, actor)
      : action === 'rework' ? await a.rework(c.id, actor, reason)
      : action === 'reopen' ? await a.reopen(c.id, actor, reason)
      : action === 'transfer' ? await a.transfer(c.id, actor, req.body!.departments![0]!)
      : await a.markInvalid(c.id, actor, reason);
    return { case: next };
  });

  // ---- cameras ----
  app.get<{ Params: { id: string } }>('/api/cameras/:id/frame.jpg', { preHandler: need('cameras') }, async (req, reply) => {
    if (o.city().cameras.has(req.params.id)) o.hub.frameAsked(req.params.id);
    const f = o.hub.frames.get(req.params.id) ?? (o.city().cameras.has(req.params.id) ? await o.frames?.frame(req.params.id) : undefined);
    if (!f) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `no frame yet from camera ${req.params.id}`);
    reply.header('x-frame-ts', String(f.ts));
    return reply.type('image/jpeg').send(Buffer.from(f.jpeg.buffer, f.jpeg.byteOffset, f.jpeg.byteLength));
  });

  const liveViews = new LiveViews();
  app.addHook('onClose', async () => liveViews.stop());
  app.get<{ Params: { id: string } }>('/api/cameras/:id/live.mjpeg', { preHandler: need('cameras') }, async (req, reply) => {
    const cam = o.city().cameras.get(req.params.id);
    if (!cam) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `camera ${req.params.id} not found`);
    o.log.info({ camera: cam.id, by: req.session!.actor.username }, 'console: live view opened');
    await liveViews.stream(cam, reply);
    return reply;
  });

  app.put<{ Params: { id: string }; Body: { zones: unknown[] } }>('/api/cameras/:id/zones', {
    preHandler: need('cameras.edit'),
    schema: { body: { type: 'object', additionalProperties: false, required: ['zones'], properties: { zones: { type: 'array', maxItems: 64 } } } },
  }, async (req, reply) => {
    if (!o.zones) return fail(reply, 501, 'CONSOLE_NO_ZONE_STORE', 'zones cannot be saved on this engine');
    const zones = await o.zones.saveZones(req.params.id, req.body.zones);
    o.log.info({ camera: req.params.id, zones: zones.length, by: req.session!.actor.username }, 'console: zones saved');
    return { zones };
  });

  // ---- statistics and tuning ----
  app.get<{ Querystring: { days?: number } }>('/api/stats', {
    preHandler: need('stats'),
    schema: { querystring: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 366, default: 14 } } } },
  }, async (req) => {
    const toMs = Date.now();
    return o.stats.stats({ fromMs: toMs - (req.query.days ?? 14) * 86_400_000 + 1, toMs });
  });

  app.get('/api/tuning', { preHandler: need('tuning') }, async () => {
    const det = new Map((await o.detectorStats?.detectorStats() ?? []).map((d) => [`${d.cameraId}/${d.zoneId}`, d]));
    const rows: TuningRow[] = [];
    for (const [key, t] of o.hub.tuning) rows.push({ ...det.get(key), ...t });
    for (const [key, d] of det) if (!o.hub.tuning.has(key)) rows.push({ ...d, raised: 0, confirmed: 0, dismissed: 0 });
    rows.sort((a, b) => b.dismissed - a.dismissed || b.raised - a.raised);
    return { rows };
  });

  // ---- users (admin) ----
  app.get('/api/users', { preHandler: need('users') }, async () => ({ users: o.users.list() }));
  app.put<{ Params: { name: string }; Body: { role: Role; department?: string; password: string } }>('/api/users/:name', {
    preHandler: need('users'),
    schema: {
      params: { type: 'object', properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } } },
      body: { type: 'object', additionalProperties: false, required: ['role', 'password'], properties: { role: { type: 'string', enum: [...ROLES] }, department: { type: 'string' }, password: { type: 'string', minLength: 8, maxLength: 256 } } },
    },
  }, async (req, reply) => {
    const { role, department, password } = req.body;
    if (role === 'clerk' && (!department || !o.city().departments.has(department))) return fail(reply, 400, 'CONSOLE_BAD_REQUEST', 'a clerk needs a known department');
    await o.users.put(department ? { username: req.params.name, role, department } : { username: req.params.name, role }, password);
    sessions.destroyUser(req.params.name);
    return { users: o.users.list() };
  });

  app.delete<{ Params: { name: string } }>('/api/users/:name', { preHandler: need('users') }, async (req, reply) => {
    if (req.params.name === req.session!.actor.username) return fail(reply, 409, 'CONSOLE_BAD_REQUEST', 'you cannot remove yourself');
    if (!o.users.remove(req.params.name)) return fail(reply, 404, 'CONSOLE_NOT_FOUND', `user ${req.params.name} not found`);
    sessions.destroyUser(req.params.name);
    return { users: o.users.list() };
  });

  // ---- live ----
  app.get<{ Querystring: { since?: string } }>('/api/live', { websocket: true }, (socket, req) => {
    const origin = req.headers.origin;
    // A websocket is not covered by SameSite on every browser; refuse other origins outright.
    if (!req.session || req.session.mustChangePassword || (origin && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`)) {
      socket.close(4401, 'log in first');
      return;
    }
    const since = req.query.since === undefined ? undefined : Number(req.query.since);
    attachLiveSocket(socket, req.session, { hub: o.hub, sessions, users: o.users, since });
  });

  // ---- the web app ----
  if (existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: webDir, prefix: '/', index: ['index.html'], wildcard: true, maxAge: 0 });
  } else {
    o.log.warn({ webDir }, 'console: the web app is not built; run `bash scripts/setup.sh`');
    app.get('/', async (_req, reply) => fail(reply, 503, 'CONSOLE_NOT_BUILT', 'the console web app is not built: run `bash scripts/setup.sh`'));
  }
}
