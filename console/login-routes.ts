import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendHttpError as fail, type Logger } from '../core/index.ts';
import { ConsoleLoginBusyError, ConsolePasswordChangeError } from './errors.ts';
import { SESSION_COOKIE } from './guard.ts';
import { isRefusal, type LoginLimits } from './login-limits.ts';
import { ROLE_PERMISSIONS } from './permissions.ts';
import type { Session, SessionStore, UserStore } from './users.ts';

export const DEVICE_COOKIE = 'gw_device';
const DEVICE_MAX_AGE_S = 365 * 86_400;

/**
 * Device cookies (OWASP's defence against slow, distributed guessing): a browser that logged in
 * as a user gets a signed token naming that user; the back-off that other sources get after many
 * failures for the user does not apply to it. The key lives in memory, so a restart makes every
 * browser a new device again (which only means the ordinary limits apply).
 */
export class DeviceCookies {
  readonly #key = randomBytes(32);

  issue(username: string): string {
    const nonce = randomBytes(12).toString('base64url');
    const name = Buffer.from(username).toString('base64url');
    return `${name}.${nonce}.${this.#mac(name, nonce)}`;
  }

  /** The device id when `cookie` is a valid token for `username`. */
  device(cookie: string | undefined, username: string): string | undefined {
    const [name, nonce, mac] = (cookie ?? '').split('.');
    if (!name || !nonce || !mac || cookie!.length > 200 || Buffer.from(name, 'base64url').toString() !== username) return undefined;
    const want = Buffer.from(this.#mac(name, nonce)), got = Buffer.from(mac);
    return want.length === got.length && timingSafeEqual(want, got) ? nonce : undefined;
  }

  #mac(name: string, nonce: string): string {
    return createHmac('sha256', this.#key).update(`${name}.${nonce}`).digest('base64url');
  }
}

export interface SessionRoutesOptions {
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly limits: LoginLimits;
  readonly devices: DeviceCookies;
  readonly log: Logger;
  readonly secureCookies: boolean;
}

export const sessionBody = (s: Session) => ({ user: s.actor, csrf: s.csrf, permissions: s.mustChangePassword ? [] : [...ROLE_PERMISSIONS[s.actor.role]], expiresAt: s.expiresAt, mustChangePassword: s.mustChangePassword });

/** The routes a session with the one-time password may still use. */
export const PASSWORD_CHANGE_ROUTES: ReadonlySet<string> = new Set(['/api/login', '/api/logout', '/api/session', '/api/password']);

/** Log-in, log-out, the session and the password change (`docs/security.md`, item 8). */
export function registerSessionRoutes(app: FastifyInstance, o: SessionRoutesOptions): void {
  const { sessions, users } = o;
  const needSession = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.session) return fail(reply, 401, 'CONSOLE_LOGIN', 'log in first');
  };

  app.post<{ Body: { username: string; password: string } }>('/api/login', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['username', 'password'], properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 256 } } } },
  }, async (req, reply) => {
    const name = req.body.username;
    // Limits first: a refused attempt costs no hashing and is counted before the slow hash.
    const attempt = o.limits.begin(name, req.ip, o.devices.device(req.cookies[DEVICE_COOKIE], name));
    if (isRefusal(attempt)) {
      reply.header('retry-after', String(attempt.retryAfterS));
      return fail(reply, 429, attempt.code, attempt.message);
    }
    let actor;
    try {
      actor = await users.authenticate(name, req.body.password);
    } catch (err) {
      attempt.failed();
      if (err instanceof ConsoleLoginBusyError) reply.header('retry-after', '1');
      throw err;
    }
    if (!actor) {
      attempt.failed();
      o.log.warn({ user: name, address: req.ip }, 'console: failed log-in');
      return fail(reply, 401, 'CONSOLE_LOGIN_FAILED', 'wrong user name or password');
    }
    attempt.succeeded();
    if (req.session) sessions.destroy(req.session.id);
    const s = sessions.create(actor, { mustChangePassword: users.mustChangePassword(actor.username) });
    const cookie = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: o.secureCookies };
    reply.setCookie(SESSION_COOKIE, s.id, { ...cookie, maxAge: Math.floor(sessions.maxMs / 1000) });
    if (!o.devices.device(req.cookies[DEVICE_COOKIE], name)) reply.setCookie(DEVICE_COOKIE, o.devices.issue(name), { ...cookie, path: '/api/login', maxAge: DEVICE_MAX_AGE_S });
    o.log.info({ user: actor.username, role: actor.role, mustChangePassword: s.mustChangePassword }, 'console: logged in');
    return sessionBody(s);
  });

  app.post('/api/logout', { preHandler: needSession }, async (req, reply) => {
    sessions.destroy(req.session!.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  app.get('/api/session', { preHandler: needSession }, async (req) => sessionBody(req.session!));

  // Any user changes their own password; the only thing a session with the one-time password may do.
  app.post<{ Body: { current: string; password: string } }>('/api/password', {
    preHandler: needSession,
    schema: { body: { type: 'object', additionalProperties: false, required: ['current', 'password'], properties: { current: { type: 'string', minLength: 1, maxLength: 256 }, password: { type: 'string', minLength: 1, maxLength: 256 } } } },
  }, async (req, reply) => {
    const s = req.session!;
    try {
      await users.changePassword(s.actor.username, req.body.current, req.body.password);
    } catch (err) {
      if (err instanceof ConsolePasswordChangeError) return fail(reply, 400, err.code, err.message);
      throw err;
    }
    s.mustChangePassword = false;
    // Other sessions of this user end: whoever knew the old password is out.
    sessions.destroyUser(s.actor.username, s.id);
    o.log.info({ user: s.actor.username }, 'console: password changed');
    return sessionBody(s);
  });
}
