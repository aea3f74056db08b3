import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { startMosquitto, tempDir, type Service } from '../test/harness.ts';
import { mosquittoAcl } from './index.ts';
import { beaconCases, writeBeaconCity, connectTerminal, metricValue, until, centre, type BeaconCtx } from '../test/beacon-cases.ts';

const SERVICE = { username: 'gridwatch', password: 'service-secret-123' };

/** Mosquitto with a password file and the ACL gridwatch documents, as an external broker. */
async function startSecuredMosquitto(raw: Record<string, any>): Promise<Service> {
  const dir = tempDir('gw-mosq-auth-');
  const passwd = join(dir, 'passwd'), acl = join(dir, 'acl');
  writeFileSync(passwd, [`${SERVICE.username}:${SERVICE.password}`, ...raw.terminals.map((t: any) => `${t.id}:${t.password}`)].join('\n') + '\n', { mode: 0o600 });
  execFileSync('mosquitto_passwd', ['-U', passwd]); // hashes the plain-text passwords in place
  writeFileSync(acl, mosquittoAcl(raw.terminals, SERVICE.username), { mode: 0o600 });
  // Running as root, Mosquitto would drop to the `mosquitto` user and could not read the temp files.
  const runAs = process.getuid?.() === 0 ? 'user root\n' : '';
  return startMosquitto({ extraConfig: `${runAs}allow_anonymous false\npassword_file ${passwd}\nacl_file ${acl}\n` });
}

describe('terminal beacons through Mosquitto as an external broker', () => {
  const ctx = {} as BeaconCtx;
  let broker: Service;

  beforeAll(async () => {
    const t = await writeBeaconCity({ mqtt: { ...SERVICE } }); // gridwatch logs in as the service user
    broker = await startSecuredMosquitto(t.raw);
    ctx.raw = t.raw;
    ctx.brokerUrl = broker.url;
    ctx.engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: { MQTT_URL: broker.url } });
    await ctx.engine.start();
  });
  afterAll(async () => {
    await ctx.engine?.stop();
    await broker?.stop();
  });

  it('refuses a bad log-in and silently drops a foreign topic (Mosquitto ACL)', async () => {
    const { engine, raw } = ctx;
    const bad = mqtt.connect(ctx.brokerUrl, { username: raw.terminals[0].id, password: 'wrong-password', reconnectPeriod: 0 });
    const err = await new Promise<Error>((resolve) => bad.once('error', resolve));
    expect(err.message).toMatch(/Not authorized|Bad username/i);
    bad.end(true);
    const [lat, lon] = centre(engine.city, 'G0101');
    const client = await connectTerminal(ctx, 0);
    const victim = raw.terminals[1].id;
    const before = engine.beacons.terminal(victim)!.lastSeenMs;
    await client.publishAsync(`gw/terminals/${victim}/location`, JSON.stringify({ _type: 'location', lat, lon, tst: Math.floor(Date.now() / 1000) }), { qos: 1 });
    await client.publishAsync(`gw/terminals/${raw.terminals[0].id}/status`, 'online', { qos: 1 });
    await until('own message through', () => engine.beacons.terminal(raw.terminals[0].id)?.status === 'online');
    await client.endAsync();
    expect(engine.beacons.terminal(victim)!.lastSeenMs).toBe(before);
  });

  beaconCases(() => ctx);

  it('gives a stock mosquitto_pub client the same behaviour: good stored, bad counted, unauthorised refused', async () => {
    const { engine, raw } = ctx;
    const t = raw.terminals[3];
    const port = String(new URL(ctx.brokerUrl).port);
    const pub = (user: string, password: string, topic: string, message: string) =>
      spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', user, '-P', password, '-q', '1', '-t', topic, '-m', message, '-i', `pub-${Math.random().toString(36).slice(2, 8)}`], { encoding: 'utf8', timeout: 10_000 });
    const [lat, lon] = centre(engine.city, 'G0505');
    const tst = Math.floor(Date.now() / 1000);
    const good = pub(t.id, t.password, `gw/terminals/${t.id}/location`, JSON.stringify({ _type: 'location', lat, lon, tst, batt: 77 }));
    expect(good.status).toBe(0);
    await until('good position', () => engine.beacons.terminal(t.id)?.cell === 'G0505');
    const notJson = await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: t.id, reason: 'not_json' });
    expect(pub(t.id, t.password, `gw/terminals/${t.id}/location`, 'garbage{').status).toBe(0);
    await until('bad counted', async () => (await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: t.id, reason: 'not_json' })) === notJson + 1);
    const denied = pub(t.id, 'not-the-password', `gw/terminals/${t.id}/location`, '{}');
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toMatch(/not authori[sz]ed|bad user/i);
    const accepted = await metricValue(engine, 'gridwatch_beacons_accepted_total', {});
    expect(pub(t.id, t.password, `gw/terminals/${raw.terminals[0].id}/location`, JSON.stringify({ _type: 'location', lat, lon, tst })).status).toBe(0); // MQTT 3.1.1: dropped, not refused
    await new Promise((r) => setTimeout(r, 500));
    expect(await metricValue(engine, 'gridwatch_beacons_accepted_total', {})).toBe(accepted);
    await engine.beacons.flush();
    const rows = await engine.telemetry.query<{ batt: number }>(`SELECT batt FROM beacon_positions FINAL WHERE terminal = '${t.id}' AND tst = fromUnixTimestamp64Milli(${tst * 1000})`);
    expect(rows).toEqual([{ batt: 77 }]);
  });
});
