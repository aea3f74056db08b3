import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendHttpError } from '../core/index.ts';
import { can, type Permission } from './permissions.ts';
import type { SessionStore } from './users.ts';

export const SESSION_COOKIE = 'gw_session';

/** A preHandler for a route outside the console's own plugin: a console session with the permission, or the ops token. */
export type RouteGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try { return decodeURIComponent(part.slice(eq + 1).trim()); } catch { return undefined; }
    }
  }
  return undefined;
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Who may read an API that is not the console's (statistics, cluster view, metrics): a console
 * user whose role has `permission`, or, when `opsToken` is set, a program that sends
 * `Authorization: Bearer <token>` (a Prometheus scraper, a load balancer's cluster check).
 * GET only: these routes change nothing, so they need no CSRF token.
 */
export function routeGuard(sessions: SessionStore, permission: Permission, opsToken?: string): RouteGuard {
  return async (req, reply) => {
    const auth = req.headers.authorization;
    if (opsToken && auth?.startsWith('Bearer ') && sameSecret(auth.slice(7), opsToken)) return;
    const session = sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (!session) {
      reply.header('www-authenticate', 'Bearer realm="gridwatch"');
      return void sendHttpError(reply, 401, 'CONSOLE_LOGIN', opsToken ? 'log in to the console, or send the ops token as a Bearer token' : 'log in to the console first (or set services.http.ops_token for programs)');
    }
    if (session.mustChangePassword) return void sendHttpError(reply, 403, 'CONSOLE_PASSWORD_CHANGE_REQUIRED', 'change the one-time password first (POST /api/password)');
    if (!can(session.actor, permission)) return void sendHttpError(reply, 403, 'CONSOLE_FORBIDDEN', `role ${session.actor.role} may not read this`);
  };
}
