import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { TerminalT } from '../config/index.ts';

export const SERVICE_USER_DEFAULT = 'gridwatch';

/** Topics a terminal may publish to: its own, and its OwnTracks topic when mapped in config. */
export function terminalTopics(t: TerminalT): string[] {
  const own = [`gw/terminals/${t.id}/location`, `gw/terminals/${t.id}/report`, `gw/terminals/${t.id}/status`];
  return t.owntracks ? [...own, `owntracks/${t.owntracks.user}/${t.owntracks.device}`] : own;
}

export type Principal = { kind: 'service' } | { kind: 'terminal'; terminalId: string; topics: ReadonlySet<string> };

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Who may log in to the embedded broker, and what each may do. Terminals log in with their own
 * credentials from the city config; gridwatch itself logs in as the service user.
 */
export class BrokerAcl {
  readonly serviceUser: string;
  readonly servicePassword: string;
  readonly #terminals = new Map<string, { password: string; principal: Principal }>();

  constructor(terminals: Iterable<TerminalT>, service: { username?: string; password?: string } = {}) {
    this.serviceUser = service.username ?? SERVICE_USER_DEFAULT;
    // With no configured password the service user gets a fresh random one per run.
    this.servicePassword = service.password ?? randomBytes(18).toString('base64url');
    for (const t of terminals) {
      this.#terminals.set(t.username ?? t.id, { password: t.password, principal: { kind: 'terminal', terminalId: t.id, topics: new Set(terminalTopics(t)) } });
    }
  }

  /** The principal for these credentials, or null when they are wrong. */
  authenticate(username: string | undefined, password: string | undefined): Principal | null {
    if (username === undefined || password === undefined) return null;
    if (username === this.serviceUser) return sameSecret(password, this.servicePassword) ? { kind: 'service' } : null;
    const t = this.#terminals.get(username);
    return t && sameSecret(password, t.password) ? t.principal : null;
  }

  mayPublish(p: Principal, topic: string): boolean {
    return p.kind === 'service' || p.topics.has(topic);
  }

  /** Terminals subscribe to nothing: they only report. */
  maySubscribe(p: Principal): boolean {
    return p.kind === 'service';
  }
}
