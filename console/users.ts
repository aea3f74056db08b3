import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../core/index.ts';
import { ConsoleUsersFileError } from './errors.ts';
import { ROLES, type Actor, type Role } from './types.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number }) => Promise<Buffer>;
// scrypt N=2^14, r=8, p=1: OWASP's minimum, ~40 ms here; the cost is stored per user so it can be raised later.
const KDF = { N: 16384, r: 8, p: 1 } as const;

export interface StoredUser {
  username: string;
  role: Role;
  department?: string;
  /** `scrypt$N$r$p$salt$hash`, base64 parts */
  password: string;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, KDF);
  return `scrypt$${KDF.N}$${KDF.r}$${KDF.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A dummy hash to spend the same time on unknown user names as on known ones. */
let dummyHash: Promise<string> | null = null;

/**
 * Console users in a JSON file in the data folder (`<data>/console-users.json`, mode 0600).
 * On first start an `admin` is created with the password from `GRIDWATCH_ADMIN_PASSWORD`, or a
 * random one-time password printed to the log.
 */
export class UserStore {
  readonly file: string;
  #users = new Map<string, StoredUser>();

  constructor(file: string) {
    this.file = file;
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
      await this.put({ username: 'admin', role: 'admin' }, password);
      if (generated) log.warn({ username: 'admin', password, file: this.file }, 'console: created user admin with this one-time password; change it after logging in');
      else log.info({ username: 'admin', file: this.file }, 'console: created user admin with the password from GRIDWATCH_ADMIN_PASSWORD');
    }
  }

  list(): Actor[] {
    return [...this.#users.values()].map(({ username, role, department }) => (department ? { username, role, department } : { username, role }));
  }

  /** Creates or replaces a user. */
  async put(user: Actor, password: string): Promise<void> {
    if (password.length < 8) throw new RangeError('a password needs at least 8 characters');
    const stored: StoredUser = { username: user.username, role: user.role, password: await hashPassword(password) };
    if (user.department) stored.department = user.department;
    this.#users.set(user.username, stored);
    this.#save();
  }

  remove(username: string): boolean {
    const ok = this.#users.delete(username);
    if (ok) this.#save();
    return ok;
  }

  async authenticate(username: string, password: string): Promise<Actor | null> {
    const u = this.#users.get(username);
    if (!u) {
      dummyHash ??= hashPassword('not a password');
      await verifyPassword(password, await dummyHash);
      return null;
    }
    if (!(await verifyPassword(password, u.password))) return null;
    return u.department ? { username: u.username, role: u.role, department: u.department } : { username: u.username, role: u.role };
  }

  #save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ users: [...this.#users.values()] }, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly actor: Actor;
  expiresAt: number;
}

/**
 * Server-side sessions: an opaque random id in an HttpOnly SameSite=Strict cookie, a CSRF token
 * the app sends back in `x-csrf-token`, and an idle timeout that each request renews up to a hard cap.
 */
export class SessionStore {
  #sessions = new Map<string, Session & { createdAt: number }>();
  readonly idleMs: number;
  readonly maxMs: number;
  readonly #now: () => number;

  constructor(opts: { idleMs: number; maxMs: number; now?: () => number }) {
    this.idleMs = opts.idleMs;
    this.maxMs = opts.maxMs;
    this.#now = opts.now ?? Date.now;
  }

  create(actor: Actor): Session {
    const now = this.#now();
    const s = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), actor, expiresAt: now + this.idleMs, createdAt: now };
    this.#sessions.set(s.id, s);
    if (this.#sessions.size % 64 === 0) this.#sweep(now);
    return s;
  }

  /** The live session with this id, renewed; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.#sessions.get(id);
    if (!s) return null;
    const now = this.#now();
    if (now >= s.expiresAt || now - s.createdAt >= this.maxMs) {
      this.#sessions.delete(id);
      return null;
    }
    s.expiresAt = Math.min(now + this.idleMs, s.createdAt + this.maxMs);
    return s;
  }

  destroy(id: string): void {
    this.#sessions.delete(id);
  }

  /** Ends every session of a user (after a password change or removal). */
  destroyUser(username: string): void {
    for (const [id, s] of this.#sessions) if (s.actor.username === username) this.#sessions.delete(id);
  }

  #sweep(now: number): void {
    for (const [id, s] of this.#sessions) if (now >= s.expiresAt) this.#sessions.delete(id);
  }
}
