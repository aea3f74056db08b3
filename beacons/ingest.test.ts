import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createMetricsRegistry, silentLogger } from '../core/index.ts';
import { validateCity, type City } from '../config/index.ts';
import { generateCity, TINY_JPEG_B64 } from '../sim/index.ts';
import { TelemetryWriter, type InsertSettings, type TelemetryStore } from '../telemetry/index.ts';
import { tempDir, until } from '../test/harness.ts';
import { BeaconIngest, type BeaconSource } from './index.ts';

/** A store that keeps what is inserted, line by line, and can be switched off (an outage). */
class MemoryStore implements TelemetryStore {
  readonly mode = 'embedded' as const;
  readonly database = 'gridwatch';
  down = false;
  readonly lines: Record<string, unknown[][]> = {};
  async exec(): Promise<void> {}
  async insert(): Promise<void> {}
  async query<T>(): Promise<T[]> {
    return [];
  }
  async insertRaw(table: string, body: Buffer, _s?: InsertSettings): Promise<void> {
    if (this.down) throw new Error('connect ECONNREFUSED (simulated outage)');
    for (const l of body.toString('utf8').split('\n')) if (l) (this.lines[table] ??= []).push(JSON.parse(l) as unknown[]);
  }
  health() {
    return { state: 'up' as const };
  }
  async close(): Promise<void> {}
}

const nullSource: BeaconSource = { kind: 'in-process', subscribe: async () => undefined, unsubscribe: async () => undefined };

function centre(city: City, cellId: string): [number, number] {
  const ring = city.areas.get(cellId)!.ring;
  const xs = ring.map((p) => p[0]!), ys = ring.map((p) => p[1]!);
  return [(Math.min(...ys) + Math.max(...ys)) / 2, (Math.min(...xs) + Math.max(...xs)) / 2];
}

describe('beacon ingest through the telemetry writer', () => {
  let city: City, store: MemoryStore, writer: TelemetryWriter, ingest: BeaconIngest, dataDir: string;

  beforeEach(async () => {
    city = validateCity(generateCity({ cameras: 0, terminals: 2 }));
    dataDir = tempDir('gw-beacon-ingest-');
    store = new MemoryStore();
    const metrics = createMetricsRegistry({ defaults: false });
    writer = new TelemetryWriter({ store, dataDir, log: silentLogger(), metrics, settings: { flushIntervalMs: 20, retryInitialMs: 10, retryMaxMs: 20 } });
    await writer.start();
    ingest = new BeaconIngest({ city, source: nullSource, store, writer, log: silentLogger(), metrics, dataDir });
    await ingest.start();
  });

  afterEach(async () => {
    await ingest.stop();
    await writer.stop();
  });

  it('writes positions, terminal events and reports as rows of the beacon tables', async () => {
    const id = [...city.terminals.keys()][0]!;
    const [a1, o1] = centre(city, 'G0101');
    const [a2, o2] = centre(city, 'G0102');
    const tst = Math.floor(Date.now() / 1000) - 60;
    const send = (kind: string, body: object) => ingest.handle(`gw/terminals/${id}/${kind}`, Buffer.from(JSON.stringify(body)));
    send('location', { _type: 'location', lat: a1, lon: o1, tst, acc: 5, batt: 80, conn: 'm' });
    send('location', { _type: 'location', lat: a2, lon: o2, tst: tst + 10 });
    send('location', { _type: 'location', lat: a2, lon: o2, tst: tst + 10 }); // a redelivery
    send('report', { _type: 'report', category: 'sanitation', text: '垃圾 "heap"', lat: a2, lon: o2, tst: tst + 20, photo: TINY_JPEG_B64 });
    // The report's row is written once its photo is stored.
    await until('report row stored', async () => (await ingest.flush(), store.lines.beacon_reports?.length === 1) || undefined);
    const worker = city.terminals.get(id)!.worker;
    const positions = store.lines.beacon_positions!;
    expect(positions).toHaveLength(2);
    // terminal, worker, tst, received_at, source, lat, lon, acc, alt, vel, cog, batt, conn, district, street, community, cell, stuck
    expect(positions[0]!.slice(0, 2)).toEqual([id, worker]);
    expect(positions[0]!.slice(4, 13)).toEqual(['gw', a1, o1, 5, null, null, null, 80, 'm']);
    expect(positions.map((p) => p[16])).toEqual(['G0101', 'G0102']);
    expect(store.lines.terminal_events!.map((e) => `${e[2]}:${e[3]}`)).toEqual(['online:', 'cell_enter:G0101', 'cell_exit:G0101', 'cell_enter:G0102']);
    const [report] = store.lines.beacon_reports!;
    expect(report!.slice(1, 3)).toEqual([id, worker]);
    expect(report!.slice(5, 7)).toEqual(['sanitation', '垃圾 "heap"']);
    expect(report![9]).toEqual(['D01', 'S01', 'S01C1', 'G0102']);
    expect(existsSync(join(dataDir, (report![10] as string[])[0]!))).toBe(true);
    expect(ingest.status()).toMatchObject({ received: 4, accepted: 3, duplicates: 1, stored: 7, pending_rows: 0, rows_refused: 0, store_error: undefined });
  });

  it('is degraded while the writer cannot store, with the rows it holds, and up again after', async () => {
    const id = [...city.terminals.keys()][1]!;
    const [lat, lon] = centre(city, 'G0101');
    store.down = true;
    ingest.handle(`gw/terminals/${id}/location`, Buffer.from(JSON.stringify({ _type: 'location', lat, lon, tst: Math.floor(Date.now() / 1000) })));
    await until('insert failed', () => (ingest.health().state === 'degraded' ? true : undefined));
    expect(ingest.health().reason).toMatch(/^ClickHouse insert failing, [1-9]\d* rows held by the telemetry writer: .*ECONNREFUSED/);
    expect(ingest.pendingRows()).toBeGreaterThan(0);
    store.down = false;
    expect(await ingest.flush()).toBe(true);
    expect(ingest.health().state).toBe('up');
    expect(ingest.status()).toMatchObject({ stored: 3, pending_rows: 0 }); // position, online, cell_enter
  });
});
