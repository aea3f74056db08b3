import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { cameraAlert } from '../sim/index.ts';
import { ADMIN_PASSWORD, startConsoleServer, type ConsoleServer } from '../test/console.ts';
import { until } from '../test/harness.ts';

interface Client { cookie: string; csrf: string }

async function login(url: string, username: string, password: string): Promise<Client> {
  const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(res.status).toBe(200);
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: ((await res.json()) as { csrf: string }).csrf };
}

function live(s: ConsoleServer, c: Client) {
  const msgs: any[] = [];
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/live`, { headers: { cookie: c.cookie, origin: s.url } });
  ws.on('message', (d) => {
    const m = JSON.parse(String(d));
    if (Array.isArray(m)) msgs.push(...m); else msgs.push(m);
  });
  let closedWith: number | null = null;
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(closedWith = code)));
  return { ws, msgs, closed, closedWith: () => closedWith };
}

const call = (s: ConsoleServer, c: Client, method: string, path: string, body?: unknown) =>
  fetch(`${s.url}${path}`, { method, headers: { cookie: c.cookie, 'x-csrf-token': c.csrf, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

describe('console websockets follow their session', () => {
  let s: ConsoleServer;

  beforeAll(async () => {
    // A short idle timeout, so that expiry can be seen; requests renew it, pings must not.
    s = await startConsoleServer({ cameras: 4, terminals: 0, console: { session_idle_s: 3 } });
    await s.addUser({ username: 'op', role: 'operator' }, 'operator-pass');
    await s.addUser({ username: 'op2', role: 'operator' }, 'operator-pass-2');
  }, 120_000);
  afterAll(async () => s?.stop());

  it("closes an operator's socket at once when an admin makes the user a clerk, and the clerk's new socket gets no alerts", async () => {
    const op = await login(s.url, 'op', 'operator-pass');
    const sock = live(s, op);
    await until('snapshot', () => sock.msgs.some((m) => m.type === 'snapshot'), 5000);
    const admin = await login(s.url, 'admin', ADMIN_PASSWORD);
    expect((await call(s, admin, 'PUT', '/api/users/op', { role: 'clerk', department: 'traffic_police', password: 'operator-pass' })).status).toBe(200);
    await until('the socket closed', () => sock.closedWith() !== null, 2000);
    expect(sock.closedWith()).toBe(4401);
    s.svc.feed.alert(cameraAlert(s.city, 'cam-0001', 'kerb', 7));
    await new Promise((r) => setTimeout(r, 200));
    expect(sock.msgs.some((m) => m.type === 'alert')).toBe(false);
    const clerk = await login(s.url, 'op', 'operator-pass');
    const again = live(s, clerk);
    await until('snapshot', () => again.msgs.some((m) => m.type === 'snapshot'), 5000);
    s.svc.feed.alert(cameraAlert(s.city, 'cam-0002', 'kerb', 8));
    await new Promise((r) => setTimeout(r, 300));
    expect(again.msgs.some((m) => m.type === 'alert')).toBe(false);
    again.ws.close();
  }, 120_000);

  it('closes the socket at once on log-out', async () => {
    const op = await login(s.url, 'op2', 'operator-pass-2');
    const sock = live(s, op);
    await until('snapshot', () => sock.msgs.some((m) => m.type === 'snapshot'), 5000);
    expect((await call(s, op, 'POST', '/api/logout')).status).toBe(200);
    await until('the socket closed', () => sock.closedWith() !== null, 2000);
    expect(sock.closedWith()).toBe(4401);
  }, 120_000);

  it('lets an idle session expire although its socket keeps pinging', async () => {
    const op = await login(s.url, 'op2', 'operator-pass-2');
    const sock = live(s, op);
    await until('snapshot', () => sock.msgs.some((m) => m.type === 'snapshot'), 5000);
    const pinger = setInterval(() => sock.ws.readyState === 1 && sock.ws.send(JSON.stringify({ type: 'ping' })), 200);
    try {
      await until('the socket closed', () => sock.closedWith() !== null, 6000);
    } finally {
      clearInterval(pinger);
    }
    expect(sock.closedWith()).toBe(4401);
    expect(sock.msgs.filter((m) => m.type === 'pong').length).toBeGreaterThan(5);
    expect((await call(s, op, 'GET', '/api/session')).status).toBe(401);
  }, 120_000);
});
