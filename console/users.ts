import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync, type Logger } from '../core/index.ts';
import { ConsolePasswordChangeError, ConsoleUsersFileError } from './errors.ts';
import { HashGate, hashPassword, isWeakHash, verifyPassword } from './password.ts';
import { ROLES, type Actor, type Role } from './types.ts';

export interface StoredUser {
  username: string;
  role: Role;
  department?: string;
  /** `scrypt$N$r$p$salt$hash`, base64 parts */
  password: string;
  /** set on the generated one-time admin password: every API but the password change is refused until it is changed */
  must_change_password?: boolean;
}

/** A dummy hash to spend the same time on unknown user names as on known ones. */
let dummyHash: Promise<string> | null = null;

const actorOf = (u: StoredUser): Actor => (u.department ? { username: u.username, role: u.role, department: u.department } : { username: u.username, role: u.role });

/**
 * Console users in a JSON file in the data folder (`<data>/console-users.json`, mode 0600).
 * On first start an `admin` is created with the password from `GRIDWATCH_ADMIN_PASSWORD`, or a
 * random one-time password printed to the log.
 */
export class UserStore {
  readonly file: string;
  /** bounds the scrypt work in flight (log-ins and password changes) */
  readonly gate: HashGate;
  #users = new Map<string, StoredUser>();
  readonly #onChange = new Set<(username: string) => void>();

  constructor(file: string, opts: { maxHashing?: number; hashQueue?: number } = {}) {
    this.file = file;
    this.gate = new HashGate({ max: opts.maxHashing, queue: opts.hashQueue });
  }

  /** Called after a user is changed or removed (sessions re-check their role). */
  onChange(fn: (username: string) => void): () => void {
    this.#onChange.add(fn);
    return () => this.#onChange.delete(fn);
  }

  /** The current record of a user, as sessions should see it; null when removed. */
  actor(username: string): Actor | null {
    const u = this.#users.get(username);
    return u ? actorOf(u) : null;
  }

  mustChangePassword(username: string): boolean {
    return this.#users.get(username)?.must_change_password === true;
  }

  async open(log: Logger, adminPassword?: string): Promise<void> {
    if (existsSync(this.file)) {
      try {
        const raw = JSON.parse(readFileSync(this.file, 'utf8')) as { users: StoredUser[] };
        for (const u of raw.users) {
          if (!ROLES.includes(u.role)) throw new Error(`user ${u.username}: unknown role ${u.role}`);
          this.#users.set(u.username, u);
        }
      } catch (err) {
        throw new ConsoleUsersFileError(this.file, err);
      }
    }
    if (!this.#users.has('admin') && ![...this.#users.values()].some((u) => u.role === 'admin')) {
      const generated = !adminPassword;
      const password = adminPassword ?? randomBytes(9).toString('base64url');
      await this.put({ username: 'admin', role: 'admin' }, password, { mustChange: generated });
      // The generated password is printed once, at warn, so that the first admin can log in; it
      // must be changed at that log-in, so a copy left in the logs opens nothing afterwards.
      // A password from GRIDWATCH_ADMIN_PASSWORD is never logged.
      if (generated) log.warn({ username: 'admin', password, file: this.file }, 'console: created user admin with this one-time password; the console asks for a new one at the first log-in');
      else log.info({ username: 'admin', file: this.file }, 'console: created user admin with the password from GRIDWATCH_ADMIN_PASSWORD');
    }
  }

  list(): Actor[] {
    return [...this.#users.values()].map(({ username, role, department }) => (department ? { username, role, department } : { username, role }));
  }

  /** Creates or replaces a user. */
  async put(user: Actor, password: string, opts: { mustChange?: boolean } = {}): Promise<void> {
    if (password.length < 8) throw new RangeError('a password needs at least 8 characters');
    const stored: StoredUser = { username: user.username, role: user.role, password: await this.gate.run(() => hashPassword(password), { wait: true }) };
    if (user.department) stored.department = user.department;
    if (opts.mustChange) stored.must_change_password = true;
    this.#users.set(user.username, stored);
    this.#save();
    this.#changed(user.username);
  }

  remove(username: string): boolean {
    const ok = this.#users.delete(username);
    if (ok) (this.#save(), this.#changed(username));
    return ok;
  }

  /**
   * The actor when the password is right, else null. The hash runs behind the gate (throws
   * `ConsoleLoginBusyError` when too many wait); a hash below the current cost is replaced.
   */
  async authenticate(username: string, password: string): Promise<Actor | null> {
    const u = this.#users.get(username);
    if (!u) {
      dummyHash ??= this.gate.run(() => hashPassword('not a password'), { wait: true });
      const dummy = await dummyHash;
      await this.gate.run(() => verifyPassword(password, dummy));
      return null;
    }
    if (!(await this.gate.run(() => verifyPassword(password, u.password)))) return null;
    if (isWeakHash(u.password)) {
      const upgraded = await this.gate.run(() => hashPassword(password), { wait: true });
      // Only if nothing changed the user meanwhile.
      if (this.#users.get(username) === u) (u.password = upgraded, this.#save());
    }
    return actorOf(u);
  }

  /** A user changes their own password; the current one must be right and the new one differ. */
  async changePassword(username: string, current: string, next: string): Promise<void> {
    if (next.length < 8) throw new ConsolePasswordChangeError('the new password needs at least 8 characters');
    if (next === current) throw new ConsolePasswordChangeError('the new password must differ from the current one');
    const u = this.#users.get(username);
    if (!u || !(await this.gate.run(() => verifyPassword(current, u.password), { wait: true }))) throw new ConsolePasswordChangeError('the current password is wrong');
    u.password = await this.gate.run(() => hashPassword(next), { wait: true });
    delete u.must_change_password;
    this.#save();
  }

  #changed(username: string): void {
    for (const fn of this.#onChange) fn(username);
  }

  #save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileAtomicSync(this.file, JSON.stringify({ users: [...this.#users.values()] }, null, 2), { mode: 0o600 });
  }
}

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly actor: Actor;
  expiresAt: number;
  /** the one-time admin password is in use: only the password change is allowed */
  mustChangePassword: boolean;
}

type Live = Session & { readonly createdAt: number; readonly ended: Set<() => void> };

/**
 * Server-side sessions: an opaque random id in an HttpOnly SameSite=Strict cookie, a CSRF token
 * the app sends back in `x-csrf-token`, and an idle timeout that each request renews up to a hard
 * cap. Only requests renew it (`get`); an open websocket checks with `peek`, which does not, and
 * hears at once when its session ends (`onEnd`).
 */
export class SessionStore {
  #sessions = new Map<string, Live>();
  readonly idleMs: number;
  readonly maxMs: number;
  readonly #now: () => number;

  constructor(opts: { idleMs: number; maxMs: number; now?: () => number }) {
    this.idleMs = opts.idleMs;
    this.maxMs = opts.maxMs;
    this.#now = opts.now ?? Date.now;
  }

  create(actor: Actor, opts: { mustChangePassword?: boolean } = {}): Session {
    const now = this.#now();
    const s: Live = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), actor, expiresAt: now + this.idleMs, createdAt: now, mustChangePassword: opts.mustChangePassword === true, ended: new Set() };
    this.#sessions.set(s.id, s);
    if (this.#sessions.size % 64 === 0) this.#sweep(now);
    return s;
  }

  /** The live session with this id, renewed; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    const s = this.#live(id);
    if (s) s.expiresAt = Math.min(this.#now() + this.idleMs, s.createdAt + this.maxMs);
    return s;
  }

  /** The live session with this id, not renewed (a websocket's check is not user activity). */
  peek(id: string | undefined): Session | null {
    return this.#live(id);
  }

  /** When the session ends: logout, expiry, its user changed or removed. Returns the unsubscribe. */
  onEnd(id: string, fn: () => void): () => void {
    const s = this.#sessions.get(id);
    if (!s) {
      queueMicrotask(fn);
      return () => {};
    }
    s.ended.add(fn);
    return () => s.ended.delete(fn);
  }

  destroy(id: string): void {
    const s = this.#sessions.get(id);
    if (s) this.#end(s);
  }

  /** Ends every session of a user (after a change of role, department or password, or removal), but `keep`. */
  destroyUser(username: string, keep?: string): void {
    for (const s of [...this.#sessions.values()]) if (s.actor.username === username && s.id !== keep) this.#end(s);
  }

  #live(id: string | undefined): Live | null {
    if (!id) return null;
    const s = this.#sessions.get(id);
    if (!s) return null;
    const now = this.#now();
    if (now >= s.expiresAt || now - s.createdAt >= this.maxMs) {
      this.#end(s);
      return null;
    }
    return s;
  }

  #end(s: Live): void {
    this.#sessions.delete(s.id);
    for (const fn of s.ended) fn();
    s.ended.clear();
  }

  #sweep(now: number): void {
    for (const s of [...this.#sessions.values()]) if (now >= s.expiresAt) this.#end(s);
  }
}
