import { describe, it, expect } from 'vitest';
import mqtt from 'mqtt';
import { loadCity } from '../config/index.ts';
import { tempDir, until } from '../test/harness.ts';
import { writeBeaconCity, centre } from '../test/beacon-cases.ts';
import { startTelemetryNode, storedRows } from '../test/telemetry-node.ts';

describe('beacons acknowledged only once they are safe', () => {
  it('stores every acknowledged beacon across a ClickHouse outage and a SIGKILL', async () => {
    const { file, raw } = await writeBeaconCity();
    const city = loadCity(file);
    const dataDir = tempDir('gw-durable-ack-');
    const node = startTelemetryNode(['beacons', dataDir, file]);
    const ready = await until('beacon process ready', () => node.lines.find((l) => l.startsWith('ready ')), 60_000);
    const t = raw.terminals[0];
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ready.slice(6)}`, { username: t.id, password: t.password, reconnectPeriod: 0 });
    client.on('error', () => undefined);
    const [lat, lon] = centre(city, 'G0101');
    const t0 = Math.floor(Date.now() / 1000) - 10_000;
    const acked: string[] = [];
    const send = (i: number) =>
      client.publishAsync(`gw/terminals/${t.id}/location`, JSON.stringify({ _type: 'location', lat, lon, tst: t0 + i }), { qos: 1 })
        .then(() => void acked.push(`${t.id}@${(t0 + i) * 1000}`), () => undefined);
    for (let i = 0; i < 20; i++) await send(i);
    await node.send('down'); // ClickHouse goes away
    await Promise.all(Array.from({ length: 300 }, (_, i) => send(20 + i)));
    await node.kill(); // at once, after the last PUBACK
    client.end(true);
    const { flushed, positions } = await storedRows(dataDir);
    const stored = new Set(positions);
    const missing = acked.filter((k) => !stored.has(k));
    console.log(`acknowledged ${acked.length}, stored after SIGKILL and restart ${positions.length}, acknowledged but missing ${missing.length}`);
    expect(flushed).toBe(true);
    expect(acked.length).toBe(320);
    expect(missing).toEqual([]);
  }, 120_000); // two child processes, each opening chdb
});
