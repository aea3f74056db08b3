import { createHash, randomBytes } from 'node:crypto';

/** A parsed WWW-Authenticate challenge. */
export interface AuthChallenge {
  scheme: 'basic' | 'digest';
  realm: string;
  nonce: string;
  opaque: string | undefined;
  qop: string | undefined;
  algorithm: string;
}

/** Picks the strongest challenge among the server's WWW-Authenticate headers (Digest over Basic). */
export function parseChallenges(headers: readonly string[]): AuthChallenge | undefined {
  let basic: AuthChallenge | undefined;
  for (const h of headers) {
    const space = h.indexOf(' ');
    const scheme = (space < 0 ? h : h.slice(0, space)).toLowerCase();
    const params = parseParams(space < 0 ? '' : h.slice(space + 1));
    if (scheme === 'digest') {
      return { scheme, realm: params.realm ?? '', nonce: params.nonce ?? '', opaque: params.opaque, qop: params.qop, algorithm: params.algorithm ?? 'MD5' };
    }
    if (scheme === 'basic') basic = { scheme, realm: params.realm ?? '', nonce: '', opaque: undefined, qop: undefined, algorithm: '' };
  }
  return basic;
}

/** `a="b", c=d` → {a:'b', c:'d'}; keys lower-cased. */
function parseParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/** Builds the Authorization header for one request (RFC 2617; qop=auth when offered). */
export class Authenticator {
  #nc = 0;
  readonly #cnonce = randomBytes(8).toString('hex');
  readonly #challenge: AuthChallenge;
  readonly #username: string;
  readonly #password: string;

  constructor(challenge: AuthChallenge, username: string, password: string) {
    this.#challenge = challenge;
    this.#username = username;
    this.#password = password;
  }

  header(method: string, uri: string): string {
    const c = this.#challenge;
    if (c.scheme === 'basic') return `Basic ${Buffer.from(`${this.#username}:${this.#password}`).toString('base64')}`;
    const ha1 = md5(`${this.#username}:${c.realm}:${this.#password}`);
    const ha2 = md5(`${method}:${uri}`);
    const useQop = c.qop !== undefined && c.qop.split(',').map((q) => q.trim()).includes('auth');
    let out = `Digest username="${this.#username}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}"`;
    if (useQop) {
      this.#nc++;
      const nc = this.#nc.toString(16).padStart(8, '0');
      out += `, response="${md5(`${ha1}:${c.nonce}:${nc}:${this.#cnonce}:auth:${ha2}`)}", qop=auth, nc=${nc}, cnonce="${this.#cnonce}"`;
    } else {
      out += `, response="${md5(`${ha1}:${c.nonce}:${ha2}`)}"`;
    }
    if (c.opaque !== undefined) out += `, opaque="${c.opaque}"`;
    if (c.algorithm) out += `, algorithm=${c.algorithm}`;
    return out;
  }
}

/** Server side: checks a Digest (or Basic) Authorization header against one user. */
export function verifyAuthorization(header: string | undefined, method: string, realm: string, nonce: string, username: string, password: string): boolean {
  if (!header) return false;
  if (header.startsWith('Basic ')) return Buffer.from(header.slice(6), 'base64').toString() === `${username}:${password}`;
  if (!header.startsWith('Digest ')) return false;
  const p = parseParams(header.slice(7));
  if (p.username !== username || p.nonce !== nonce || p.realm !== realm) return false;
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${p.uri ?? ''}`);
  const expected = p.qop === 'auth' ? md5(`${ha1}:${nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  return p.response === expected;
}
