import { scryptSync } from 'node:crypto';
import { stat, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/index.ts';
import { LoginLimits } from './login-limits.ts';
import { UserStore } from './users.ts';
import { isRefusal } from './login-limits.ts';
import { loginFrom, requestFrom, startConsoleServer, type ConsoleServer } from '../test/console.ts';
import { tempDir } from '../test/harness.ts';

describe('console log-in limits (real server, one loopback address per client)', () => {
  let s: ConsoleServer;

  beforeAll(async () => {
    s = await startConsoleServer({ cameras: 0, terminals: 0 });
    await s.addUser({ username: 'alice', role: 'operator' }, 'alice-right-pw');
    await s.addUser({ username: 'bob', role: 'operator' }, 'bob-right-pw');
  }, 120_000);
  afterAll(async () => s?.stop());

  it('counts guesses before the slow hash: of 20 parallel wrong guesses at most 5 are checked', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => loginFrom('127.0.0.2', s.url, 'bob', `wrong-${i}`)));
    const checked = answers.filter((a) => a.status === 401).length;
    expect(checked).toBeLessThanOrEqual(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(20 - checked);
    // and the right password from there is refused now too: that source is locked
    expect((await loginFrom('127.0.0.2', s.url, 'bob', 'bob-right-pw')).status).toBe(429);
  }, 180_000);

  it("locks the attacker's source, not the real user", async () => {
    const first = await loginFrom('127.0.0.3', s.url, 'alice', 'alice-right-pw');
    expect(first.status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await loginFrom('127.0.0.4', s.url, 'alice', `guess-${i}`)).status).toBe(401);
    const locked = await loginFrom('127.0.0.4', s.url, 'alice', 'alice-right-pw');
    expect(locked.status).toBe(429);
    // The real user: from a new address, and from the browser that logged in before.
    expect((await loginFrom('127.0.0.5', s.url, 'alice', 'alice-right-pw')).status).toBe(200);
    expect(first.device).toMatch(/^gw_device=/);
    expect((await loginFrom('127.0.0.3', s.url, 'alice', 'alice-right-pw', first.device)).status).toBe(200);
    expect(locked.body.error.code).toBe('CONSOLE_LOGIN_LOCKED');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
  }, 180_000);

  it('limits attempts per address, so one address cannot spray user names', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => loginFrom('127.0.0.6', s.url, `nobody-${i}`, 'password-1')));
    expect(answers.filter((a) => a.status === 401).length).toBeLessThanOrEqual(10);
    expect(answers.filter((a) => a.status === 429 && a.body.error.code === 'CONSOLE_LOGIN_THROTTLED').length).toBeGreaterThanOrEqual(20);
    // Other addresses are not affected.
    expect((await loginFrom('127.0.0.7', s.url, 'alice', 'alice-right-pw')).status).toBe(200);
  }, 180_000);

  it("bounds the hashing in flight: a storm of log-ins from 40 addresses is partly refused with 503 and leaves libuv's pool free", async () => {
    const probe = () => new Promise<number>((resolve) => {
      const t0 = performance.now();
      stat(import.meta.filename, () => resolve(performance.now() - t0));
    });
    const storm = Promise.all(Array.from({ length: 40 }, (_, i) => loginFrom(`127.0.1.${i + 1}`, s.url, `storm-${i}`, 'password-1')));
    await new Promise((r) => setTimeout(r, 300));
    const probes: number[] = [];
    for (let i = 0; i < 5; i++) probes.push(await probe());
    const answers = await storm;
    const busy = answers.filter((a) => a.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0]!.body.error.code).toBe('CONSOLE_LOGIN_BUSY');
    expect(answers.filter((a) => a.status === 401).length + busy.length).toBe(40);
    expect(s.svc.users.gate.peak).toBeLessThanOrEqual(2);
    // a file system call is answered while the hashes run (4 pool threads, at most 2 hashing; one
    // 2^17 hash holds a thread for 0.3–0.7 s here, so an ungated storm would hold all four)
    expect(Math.max(...probes)).toBeLessThan(500);
    console.log(`storm: ${busy.length} of 40 refused busy, file stat during it ${Math.max(...probes).toFixed(1)} ms at most`);
  }, 180_000);
});

describe('password hashes', () => {
  it('verifies an old scrypt N=2^14 hash and upgrades it to N=2^17 at log-in', async () => {
    const dir = tempDir('gw-users-');
    const file = join(dir, 'console-users.json');
    const salt = Buffer.from('0123456789abcdef');
    const old = `scrypt$16384$8$1$${salt.toString('base64')}$${scryptSync('legacy-password', salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64')}`;
    writeFileSync(file, JSON.stringify({ users: [{ username: 'admin', role: 'admin', password: old }] }), { mode: 0o600 });
    const users = new UserStore(file);
    await users.open(silentLogger());
    expect(await users.authenticate('admin', 'wrong-password')).toBeNull();
    expect(await users.authenticate('admin', 'legacy-password')).toEqual({ username: 'admin', role: 'admin' });
    const { readFileSync } = await import('node:fs');
    const stored = JSON.parse(readFileSync(file, 'utf8')).users[0].password as string;
    expect(stored).toMatch(/^scrypt\$131072\$8\$1\$/);
    const again = new UserStore(file);
    await again.open(silentLogger());
    expect(await again.authenticate('admin', 'legacy-password')).toEqual({ username: 'admin', role: 'admin' });
  }, 120_000);

  it('refuses a stored cost that would allocate gigabytes instead of computing it', async () => {
    const dir = tempDir('gw-users-');
    const file = join(dir, 'console-users.json');
    writeFileSync(file, JSON.stringify({ users: [{ username: 'admin', role: 'admin', password: 'scrypt$1073741824$64$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }] }), { mode: 0o600 });
    const users = new UserStore(file);
    await users.open(silentLogger());
    expect(await users.authenticate('admin', 'anything-at-all')).toBeNull();
  });
});

describe('LoginLimits (the tables behind the routes, on a clock of its own)', () => {
  it('keeps a lock while 10,000 other names are sprayed from 10,000 addresses', () => {
    let now = 0;
    const limits = new LoginLimits({ now: () => now, maxEntries: 2_000 });
    for (let i = 0; i < 5; i++) {
      const a = limits.begin('admin', '10.0.0.1');
      if (isRefusal(a)) throw new Error('refused too early');
      a.failed();
    }
    expect(isRefusal(limits.begin('admin', '10.0.0.1'))).toBe(true);
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      now += 1;
      const a = limits.begin(`name-${i}`, `10.1.${i >> 8}.${i & 255}`);
      if (isRefusal(a)) refused++; else a.failed();
    }
    expect(isRefusal(limits.begin('admin', '10.0.0.1'))).toBe(true);
    const size = limits.size;
    expect(Math.max(size.addresses, size.sources, size.users)).toBeLessThanOrEqual(2_000);
    console.log(`spray: 10,000 names, ${refused} refused while the tables were full; tables ${JSON.stringify(size)}`);
  });

  it('one failure a minute keeps its own source backing off, and never locks the real user out', () => {
    let now = 0;
    const limits = new LoginLimits({ now: () => now });
    let attackerTried = 0, realUserIn = 0;
    for (let minute = 0; minute < 120; minute++) {
      now = minute * 60_000;
      const a = limits.begin('admin', '203.0.113.9');
      if (!isRefusal(a)) (a.failed(), attackerTried++);
      // The real user, from the browser that holds a device cookie for admin.
      const r = limits.begin('admin', '198.51.100.7', 'real-users-device');
      if (!isRefusal(r)) (r.succeeded(), realUserIn++);
    }
    expect(realUserIn).toBe(120);
    // Back-off doubles to 15 minutes: the attacker gets far fewer than 120 guesses.
    expect(attackerTried).toBeLessThan(20);
  });
});

describe('the one-time admin password', () => {
  const servers: ConsoleServer[] = [];
  afterAll(async () => Promise.all(servers.map((x) => x.stop())));

  it('must be changed at the first log-in: until then every other API answers 403', async () => {
    const s = await startConsoleServer({ cameras: 0, terminals: 0, adminPassword: null });
    servers.push(s);
    const line = s.logLines.find((l) => l.level === 40 && typeof l.password === 'string');
    const oneTime = line!.password as string;
    const first = await loginFrom('127.0.2.1', s.url, 'admin', oneTime);
    expect(first.status).toBe(200);
    expect(first.body.mustChangePassword).toBe(true);
    expect(first.body.permissions).toEqual([]);
    const headers = { cookie: first.session!, 'x-csrf-token': first.body.csrf };
    const cases = await requestFrom('127.0.2.1', `${s.url}/api/cases`, { headers });
    expect(cases.status).toBe(403);
    expect(cases.body.error.code).toBe('CONSOLE_PASSWORD_CHANGE_REQUIRED');
    expect((await requestFrom('127.0.2.1', `${s.url}/api/users`, { headers })).status).toBe(403);
    const same = await requestFrom('127.0.2.1', `${s.url}/api/password`, { method: 'POST', headers, body: { current: oneTime, password: oneTime } });
    expect(same.status).toBe(400);
    const changed = await requestFrom('127.0.2.1', `${s.url}/api/password`, { method: 'POST', headers, body: { current: oneTime, password: 'a-new-admin-password' } });
    expect(changed.status).toBe(200);
    expect(changed.body.mustChangePassword).toBe(false);
    expect((await requestFrom('127.0.2.1', `${s.url}/api/users`, { headers })).status).toBe(200);
    expect((await loginFrom('127.0.2.2', s.url, 'admin', oneTime)).status).toBe(401);
    const next = await loginFrom('127.0.2.2', s.url, 'admin', 'a-new-admin-password');
    expect(next.status).toBe(200);
    expect(next.body.mustChangePassword).toBe(false);
  }, 180_000);

  it('is never logged when GRIDWATCH_ADMIN_PASSWORD gives it, and then need not be changed', async () => {
    const s = await startConsoleServer({ cameras: 0, terminals: 0, adminPassword: 'chosen-by-the-operator' });
    servers.push(s);
    expect(JSON.stringify(s.logLines)).not.toContain('chosen-by-the-operator');
    const first = await loginFrom('127.0.2.3', s.url, 'admin', 'chosen-by-the-operator');
    expect(first.body.mustChangePassword).toBe(false);
  }, 180_000);
});
