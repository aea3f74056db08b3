import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { ConsoleLoginBusyError } from './errors.ts';

/**
 * scrypt at OWASP's current minimum, N=2^17, r=8, p=1: 128 MiB and ~0.3–0.7 s per hash here.
 * The cost is stored with each hash, so older hashes (N=2^14 before) still verify and are
 * re-hashed at this cost on the user's next log-in.
 */
export const KDF = { N: 2 ** 17, r: 8, p: 1 } as const;
/** Node refuses scrypt over 32 MiB by default; 128·N·r bytes are needed, plus some room. */
const maxmem = (N: number, r: number) => 128 * N * r + 16 * 1024 * 1024;
/** A stored cost above this is refused rather than computed: the users file must not make us allocate gigabytes. */
const MAX_N = 2 ** 20, MAX_R = 16, MAX_P = 4;

function scrypt(password: string, salt: Buffer, keylen: number, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, { N, r, p, maxmem: maxmem(N, r) }, (err, key) => (err ? reject(err) : resolve(key))));
}

/**
 * Bounds the scrypt work in flight: each hash holds one of libuv's four pool threads (and
 * 128 MiB) for a good part of a second, so unbounded log-in attempts would stall every file and
 * DNS call of the engine. At most `max` hashes run at once and `queue` wait; more are refused
 * with `ConsoleLoginBusyError` (503) unless the caller must wait (an admin setting a password).
 */
export class HashGate {
  readonly max: number;
  readonly queue: number;
  #running = 0;
  #peak = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(opts: { max?: number; queue?: number } = {}) {
    this.max = opts.max ?? 2;
    this.queue = opts.queue ?? 16;
  }

  /** The most hashes that ran at once since start. */
  get peak(): number { return this.#peak; }
  get running(): number { return this.#running; }

  async run<T>(fn: () => Promise<T>, opts: { wait?: boolean } = {}): Promise<T> {
    if (this.#running >= this.max) {
      if (!opts.wait && this.#waiting.length >= this.queue) throw new ConsoleLoginBusyError();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    this.#peak = Math.max(this.#peak, this.#running);
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, KDF.N, KDF.r, KDF.p);
  return `scrypt$${KDF.N}$${KDF.r}$${KDF.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether a stored hash is below the current cost (and should be re-hashed after a log-in). */
export function isWeakHash(stored: string): boolean {
  const [, n, r, p] = stored.split('$');
  return Number(n) < KDF.N || Number(r) < KDF.r || Number(p) < KDF.p;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  const N = Number(n), R = Number(r), P = Number(p);
  if (kind !== 'scrypt' || !salt || !hash) return false;
  if (!(N >= 2 && N <= MAX_N && R >= 1 && R <= MAX_R && P >= 1 && P <= MAX_P)) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length < 16 || expected.length > 64) return false;
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, N, R, P);
  return timingSafeEqual(got, expected);
}
