/**
 * Beacon behaviour checked the same way against every broker (embedded aedes, Mosquitto):
 * validation, cells, status, dedup, reports on JetStream. Imported by the `*.test.ts` files.
 */
import { it, expect } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { stringify } from 'yaml';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { haversineM, type City } from '../config/index.ts';
import { parseEvent } from '../domain/index.ts';
import { freePort } from '../core/index.ts';
import { tempDir, until } from './harness.ts';
import type { Engine } from '../engine/index.ts';
import { generateCity, TINY_JPEG_B64 } from '../sim/index.ts';
import type { TerminalEvent } from '../beacons/index.ts';

export interface BeaconCtx {
  engine: Engine;
  brokerUrl: string;
  raw: Record<string, any>;
}

export { until };

/** A test city: 4 terminals (the third mapped to OwnTracks alice/phone), fast timers. */
export async function writeBeaconCity(services: Record<string, unknown> = {}): Promise<{ file: string; dir: string; raw: Record<string, any> }> {
  const dir = tempDir('gw-beacons-');
  const raw = generateCity({ cameras: 1, terminals: 4 }) as Record<string, any>;
  raw.terminals[2].owntracks = { user: 'alice', device: 'phone' };
  raw.beacons = { inactive_s: 1, stuck_gps_s: 60, log_interval_s: 0, max_payload_bytes: 2048, photo_max_bytes: 4096 };
  raw.services = { data_dir: join(dir, 'data'), http: { host: '127.0.0.1', port: await freePort() }, mqtt: { port: await freePort() }, ...services };
  const file = join(dir, 'city.yaml');
  writeFileSync(file, stringify(raw));
  return { file, dir, raw };
}

/** The middle of a cell, [lat, lon]. */
export function centre(city: City, cellId: string): [number, number] {
  const ring = city.areas.get(cellId)!.ring;
  const xs = ring.map((p) => p[0]!), ys = ring.map((p) => p[1]!);
  return [(Math.min(...ys) + Math.max(...ys)) / 2, (Math.min(...xs) + Math.max(...xs)) / 2];
}

export async function connectTerminal(ctx: BeaconCtx, index: number, extra: IClientOptions = {}): Promise<MqttClient> {
  const t = ctx.raw.terminals[index];
  return mqtt.connectAsync(ctx.brokerUrl, { username: t.id, password: t.password, reconnectPeriod: 0, clientId: `test-${t.id}-${Math.random().toString(36).slice(2, 8)}`, ...extra });
}

export async function metricValue(engine: Engine, name: string, labels: Record<string, string>): Promise<number> {
  const m = engine.metrics.getSingleMetric(name);
  if (!m) return 0;
  const got = await m.get();
  return got.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0);
}

const nowS = () => Math.floor(Date.now() / 1000);
const loc = (lat: number, lon: number, tst: number, extra: object = {}) => JSON.stringify({ _type: 'location', lat, lon, tst, ...extra });

/** The cases every broker must pass; `ctx()` gives the running engine. */
export function beaconCases(ctx: () => BeaconCtx): void {
  const T = (i: number) => ctx().raw.terminals[i].id as string;

  it('rejects every kind of bad payload, counts the reason per terminal, and keeps running', async () => {
    const { engine } = ctx();
    const city = engine.city;
    const [lat, lon] = centre(city, 'G0101');
    const big = 'x'.repeat(3000);
    const cases: [string, string, string | Buffer][] = [
      ['not_json', 'location', 'this is not json'],
      ['not_object', 'location', '[1,2,3]'],
      ['missing_field', 'location', JSON.stringify({ _type: 'location', lat, lon })],
      ['missing_field', 'location', JSON.stringify({ lat, lon, tst: nowS() })],
      ['bad_field', 'location', JSON.stringify({ _type: 'location', lat: 'north', lon, tst: nowS() })],
      ['coordinates_out_of_range', 'location', loc(95, lon, nowS())],
      ['coordinates_out_of_range', 'location', loc(lat, 200, nowS())],
      ['outside_city', 'location', loc(lat + 0.5, lon, nowS())],
      ['future_timestamp', 'location', loc(lat, lon, nowS() + 600)],
      ['too_large', 'location', JSON.stringify({ _type: 'location', lat, lon, tst: nowS(), pad: big })],
      ['unknown_category', 'report', JSON.stringify({ category: 'no_such_thing', text: 'x', lat, lon, tst: nowS() })],
      ['missing_field', 'report', JSON.stringify({ text: 'x', lat, lon, tst: nowS() })],
      ['bad_photo', 'report', JSON.stringify({ category: 'sanitation', text: 'x', lat, lon, tst: nowS(), photo: Buffer.from('not a jpeg at all').toString('base64') })],
      ['photo_too_large', 'report', JSON.stringify({ category: 'sanitation', text: 'x', lat, lon, tst: nowS(), photo: Buffer.alloc(6000, 1).toString('base64') })],
      ['too_large', 'report', JSON.stringify({ category: 'sanitation', text: 'x'.repeat(40_000), lat, lon, tst: nowS() })],
      ['bad_field', 'status', JSON.stringify({ state: 'sleeping' })],
    ];
    const id = T(1);
    const before = new Map<string, number>();
    for (const [reason] of cases) before.set(reason, await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: id, reason }));
    const want = new Map<string, number>();
    for (const [reason] of cases) want.set(reason, (want.get(reason) ?? 0) + 1);
    const client = await connectTerminal(ctx(), 1);
    for (const [, kind, body] of cases) await client.publishAsync(`gw/terminals/${id}/${kind}`, body, { qos: 1 });
    await client.endAsync();
    for (const [reason, n] of want) {
      await until(`${n} × ${reason}`, async () => (await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: id, reason })) - before.get(reason)! >= n);
      expect((await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: id, reason })) - before.get(reason)!).toBe(n);
    }
    expect(engine.health.report().components.beacons?.state).toBe('up');
  });

  it('stores a position with its cell, and raises cell_exit / cell_enter across a boundary', async () => {
    const { engine } = ctx();
    const id = T(0);
    const events: TerminalEvent[] = [];
    const off = engine.beacons.onEvent((e) => e.terminal === id && events.push(e));
    const [a1, o1] = centre(engine.city, 'G0101');
    const [a2, o2] = centre(engine.city, 'G0102');
    const t0 = nowS() - 100;
    const client = await connectTerminal(ctx(), 0);
    await client.publishAsync(`gw/terminals/${id}/location`, loc(a1, o1, t0, { acc: 5, vel: 4, batt: 80, conn: 'm' }), { qos: 1 });
    await client.publishAsync(`gw/terminals/${id}/location`, loc(a2, o2, t0 + 10), { qos: 1 });
    await client.endAsync();
    await until('cell_enter G0102', () => events.some((e) => e.kind === 'cell_enter' && e.cell === 'G0102'));
    off();
    const kinds = events.filter((e) => e.kind.startsWith('cell_')).map((e) => `${e.kind}:${e.cell}`);
    expect(kinds.slice(-3)).toEqual(['cell_enter:G0101', 'cell_exit:G0101', 'cell_enter:G0102']);
    await engine.beacons.flush();
    const rows = await until('rows stored', async () => {
      const r = await engine.telemetry.query<{ cell: string; batt: number | null; district: string }>(`SELECT cell, batt, district FROM beacon_positions FINAL WHERE terminal = '${id}' AND tst >= fromUnixTimestamp64Milli(${t0 * 1000}) ORDER BY tst`);
      return r.length === 2 ? r : undefined;
    });
    expect(rows).toEqual([{ cell: 'G0101', batt: 80, district: 'D01' }, { cell: 'G0102', batt: null, district: 'D01' }]);
    const ev = await engine.telemetry.query<{ kind: string; cell: string }>(`SELECT kind, cell FROM terminal_events FINAL WHERE terminal = '${id}' AND kind LIKE 'cell_%' ORDER BY at, kind DESC`);
    expect(ev.slice(-2)).toEqual([{ kind: 'cell_exit', cell: 'G0101' }, { kind: 'cell_enter', cell: 'G0102' }]);
    const track = await engine.beacons.track(id, t0 * 1000, (t0 + 20) * 1000);
    expect(track.map((p) => p.cell)).toEqual(['G0101', 'G0102']);
    // The worker statistics read the same rows, under the worker who carries the terminal.
    const worker = engine.city.terminals.get(id)!.worker;
    const day = await engine.telemetry.query<{ online_s: number; distance_m: number }>(`SELECT online_s, distance_m FROM worker_daily(gap_s = 300, from_ms = ${t0 * 1000}, to_ms = ${(t0 + 20) * 1000}) WHERE worker = '${worker}'`);
    expect(day).toHaveLength(1);
    expect(Number(day[0]!.online_s)).toBe(10);
    expect(Number(day[0]!.distance_m)).toBeCloseTo(haversineM(a1, o1, a2, o2), 0);
  });

  it('counts a redelivered message once and stores it once', async () => {
    const { engine } = ctx();
    const id = T(0);
    const [lat, lon] = centre(engine.city, 'G0102');
    const tst = nowS() - 50;
    const acc0 = await metricValue(engine, 'gridwatch_beacons_accepted_total', { kind: 'location' });
    const dup0 = await metricValue(engine, 'gridwatch_beacons_duplicates_total', { kind: 'location' });
    const client = await connectTerminal(ctx(), 0);
    const body = loc(lat, lon, tst);
    await client.publishAsync(`gw/terminals/${id}/location`, body, { qos: 1 });
    // The same message again, as a terminal re-sends it when its PUBACK was lost.
    await client.publishAsync(`gw/terminals/${id}/location`, body, { qos: 1, dup: true });
    await client.endAsync();
    await until('duplicate seen', async () => (await metricValue(engine, 'gridwatch_beacons_duplicates_total', { kind: 'location' })) - dup0 === 1);
    expect((await metricValue(engine, 'gridwatch_beacons_accepted_total', { kind: 'location' })) - acc0).toBe(1);
    await engine.beacons.flush();
    const n = await until('row stored', async () => {
      const r = await engine.telemetry.query<{ n: number }>(`SELECT count() AS n FROM beacon_positions WHERE terminal = '${id}' AND tst = fromUnixTimestamp64Milli(${tst * 1000})`);
      return r[0]?.n ? r[0].n : undefined;
    });
    expect(Number(n)).toBe(1);
  });

  it('maps an OwnTracks topic to its terminal', async () => {
    const { engine } = ctx();
    const id = T(2);
    const [lat, lon] = centre(engine.city, 'G0201');
    const client = await connectTerminal(ctx(), 2);
    await client.publishAsync('owntracks/alice/phone', JSON.stringify({ _type: 'location', lat, lon, tst: nowS(), acc: 12, batt: 55, tid: 'ap', BSSID: 'x' }), { qos: 1 });
    await client.endAsync();
    await until('owntracks position', () => engine.beacons.terminal(id)?.cell === 'G0201');
    await engine.beacons.flush();
    const r = await engine.telemetry.query<{ source: string }>(`SELECT source FROM beacon_positions WHERE terminal = '${id}'`);
    expect(r.map((x) => x.source)).toContain('owntracks');
  });

  it('marks a terminal offline by its last will, and inactive when beacons stop', async () => {
    const { engine } = ctx();
    const id = T(3);
    const [lat, lon] = centre(engine.city, 'G0101');
    const events: string[] = [];
    const off = engine.beacons.onEvent((e) => e.terminal === id && events.push(e.kind));
    const client = await connectTerminal(ctx(), 3, { will: { topic: `gw/terminals/${id}/status`, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: false }, keepalive: 1 });
    await client.publishAsync(`gw/terminals/${id}/status`, '{"state":"online"}', { qos: 1 });
    await client.publishAsync(`gw/terminals/${id}/location`, loc(lat, lon, nowS()), { qos: 1 });
    await until('online', () => engine.beacons.terminal(id)?.status === 'online');
    // No more beacons: inactive after inactive_s (1 s here), while the session stays up.
    await until('inactive', () => engine.beacons.terminal(id)?.status === 'inactive');
    // The connection dies without a DISCONNECT: the broker publishes the will.
    client.stream.destroy();
    client.end(true);
    await until('offline by will', () => engine.beacons.terminal(id)?.status === 'offline');
    off();
    expect(events).toEqual(expect.arrayContaining(['online', 'inactive', 'offline']));
    expect(events.indexOf('inactive')).toBeLessThan(events.lastIndexOf('offline'));
  });

  it('flags stuck GPS: same coordinates for long while the terminal reports speed', async () => {
    const { engine } = ctx();
    const id = T(1);
    const [lat, lon] = centre(engine.city, 'G0302');
    const t0 = nowS() - 200;
    const client = await connectTerminal(ctx(), 1);
    for (let i = 0; i <= 14; i++) await client.publishAsync(`gw/terminals/${id}/location`, loc(lat, lon, t0 + i * 5, { vel: 12 }), { qos: 1 });
    await until('stuck flag', () => engine.beacons.terminal(id)?.stuck === true);
    await client.publishAsync(`gw/terminals/${id}/location`, loc(lat + 0.0003, lon, t0 + 80, { vel: 12 }), { qos: 1 });
    await client.endAsync();
    await until('stuck cleared', () => engine.beacons.terminal(id)?.stuck === false);
  });

  it('turns a report into one JetStream event with place, grid path and the photo as evidence', async () => {
    const { engine } = ctx();
    const id = T(0);
    const [lat, lon] = centre(engine.city, 'G0101');
    const js = jetstream(engine.bus.nc);
    const jsm = await jetstreamManager(engine.bus.nc);
    const stream = await jsm.streams.find('gw.events.sanitation.D01.S01.G0101');
    const consumer = await js.consumers.get(stream, { filter_subjects: 'gw.events.sanitation.>' });
    const client = await connectTerminal(ctx(), 0);
    const tst = nowS() - 5;
    const body = JSON.stringify({ _type: 'report', category: 'sanitation', text: '垃圾堆放 rubbish heap', lat, lon, tst, photo: TINY_JPEG_B64 });
    await client.publishAsync(`gw/terminals/${id}/report`, body, { qos: 1 });
    await client.publishAsync(`gw/terminals/${id}/report`, body, { qos: 1, dup: true });
    await client.endAsync();
    const msg = await consumer.next({ expires: 10_000 });
    expect(msg).not.toBeNull();
    expect(msg!.subject).toBe('gw.events.sanitation.D01.S01.G0101');
    const ev = msg!.json<Record<string, any>>();
    expect(msg!.headers?.get('Nats-Msg-Id')).toBe(ev.id);
    expect(ev).toMatchObject({ schema: 'gridwatch.event/v1', type: 'terminal_report', category: 'sanitation', source: { kind: 'terminal', id }, description: '垃圾堆放 rubbish heap', place: { lat, lon, path: ['D01', 'S01', 'S01C1', 'G0101'], method: 'gps' } });
    expect(parseEvent(msg!.data, msg!.subject).id).toBe(ev.id); // valid for the router
    // …which makes it a case for the department responsible for sanitation in that cell.
    const caseId = await until('a case from the report', () => engine.router.casesOfEvent(ev.id)[0]);
    expect(engine.router.get(caseId)).toMatchObject({ category: 'sanitation', department: 'sanitation' });
    expect(ev.first_seen).toBe(new Date(tst * 1000).toISOString());
    expect(ev.evidence).toHaveLength(1);
    expect(existsSync(join(engine.dataDir, ev.evidence[0]))).toBe(true);
    expect(await consumer.next({ expires: 1500 })).toBeNull(); // the redelivery made no second event
    await engine.beacons.flush();
    const r = await until('report row', async () => {
      const x = await engine.telemetry.query<{ n: string }>(`SELECT count() AS n FROM beacon_reports FINAL WHERE event_id = '${ev.id}'`);
      return Number(x[0]?.n) ? x : undefined;
    });
    expect(Number(r[0]!.n)).toBe(1);
    // The worker statistics count it for the worker who carries the terminal.
    const worker = engine.city.terminals.get(id)!.worker;
    const filed = await engine.telemetry.query<{ worker: string }>(`SELECT worker FROM beacon_reports FINAL WHERE event_id = '${ev.id}'`);
    expect(filed).toEqual([{ worker }]);
  });
}
