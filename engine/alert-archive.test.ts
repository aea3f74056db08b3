import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { silentLogger } from '../core/index.ts';
import { loadCity, type City } from '../config/index.ts';
import { ConsoleHub } from '../console/index.ts';
import { ChdbStore, migrate, type TelemetryStore } from '../telemetry/index.ts';
import { cameraAlert, sceneJpeg } from '../sim/index.ts';
import { startNatsServer, tempDir, until, writeTestCity, type Service } from '../test/harness.ts';
import { EngineAlertArchive } from './alert-archive.ts';
import { CameraShare } from './camera-share.ts';

/**
 * Alerts across nodes and restarts, on real nats-server and chdb: two nodes' consoles (a hub and
 * an archive each, own data folders) share alerts and decisions live, one reads the other's
 * evidence over NATS, and a node that starts loads the stored alerts with their decisions.
 */
describe('the alert archive', () => {
  let nats: Service;
  let store: TelemetryStore;
  let city: City;
  const conns: NatsConnection[] = [];
  const archives: EngineAlertArchive[] = [];
  const day = new Date().toISOString().slice(0, 10);

  async function node(id: string, dataDir: string) {
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    const hub = new ConsoleHub();
    const archive = new EngineAlertArchive({ city, nodeId: id, dataDir, nc, telemetry: store, hub, log: silentLogger(), retentionDays: 30 });
    await archive.start();
    archives.push(archive);
    return { hub, archive, dataDir };
  }

  beforeAll(async () => {
    nats = await startNatsServer({ storeDir: tempDir('gw-nats-archive-') });
    store = await ChdbStore.open(tempDir('gw-chdb-archive-'), 'gridwatch');
    await migrate(store, { tz: 'Asia/Shanghai' });
    city = loadCity((await writeTestCity({ cameras: 2 })).file);
  });

  afterAll(async () => {
    for (const a of archives) a.stop();
    for (const nc of conns) await nc.close();
    await store?.close();
    await nats?.stop();
  });

  it('shares alerts and decisions between nodes live; evidence comes from the node that holds it', async () => {
    const a = await node('node-a', tempDir('gw-node-a-'));
    const b = await node('node-b', tempDir('gw-node-b-'));
    const jpeg = await sceneJpeg({ label: 'evidence on node a' });
    const path = join('evidence', 'cam-0001', day, 'vio-1-annotated.jpg');
    mkdirSync(join(a.dataDir, 'evidence', 'cam-0001', day), { recursive: true });
    writeFileSync(join(a.dataDir, path), jpeg);
    const alert = cameraAlert(city, 'cam-0001', 'kerb', 1);
    a.hub.alert(alert, { node: 'node-a', path });
    await until('the alert on node b', () => b.hub.alerts.has(alert.id), 5000);
    const ref = b.hub.evidenceRefs.get(alert.id)!;
    expect(ref).toEqual({ node: 'node-a', path });
    expect(Buffer.from((await b.archive.evidence(ref))!)).toEqual(Buffer.from(jpeg));
    // Only files under the holder's evidence folder are served.
    expect(await b.archive.evidence({ node: 'node-a', path: '../../../etc/passwd' })).toBeNull();
    expect(await b.archive.evidence({ node: 'node-a', path: 'evidence/../console-users.json' })).toBeNull();
    // A decision taken on b shows on a.
    b.hub.markAlert(alert.id, 'dismissed', 'op', { reason: 'shadow' });
    await until('the decision on node a', () => a.hub.alerts.get(alert.id)?.status === 'dismissed', 5000);
    expect(a.hub.alerts.get(alert.id)).toMatchObject({ status: 'dismissed', reason: 'shadow', decidedBy: 'op' });
    expect(a.hub.tuning.get('cam-0001/kerb')).toMatchObject({ raised: 1, dismissed: 1 });
  });

  it('a starting node loads the stored alerts with their decisions and evidence paths; old evidence folders are swept', async () => {
    const alert = cameraAlert(city, 'cam-0002', 'kerb', 2);
    const [district = '', street = '', community = ''] = alert.path;
    await store.insert('events', [{
      ts: new Date(alert.ts).toISOString().replace('T', ' ').replace('Z', ''), event_id: alert.id, version: 1, category: alert.category, source: 'camera', source_id: 'cam-0002',
      district, street, community, cell: alert.cell, lat: alert.lat, lon: alert.lon, class: 'car', score: 0.8, dwell_s: 70, zone: 'kerb', model: 'nanodet-g-416', model_version: '1',
      snapshot: `evidence/cam-0002/${day}/v-annotated.jpg`, node: 'node-x', box_x: 1, box_y: 2, box_w: 30, box_h: 40,
    }]);
    await store.insert('verdicts', [{ ts: new Date().toISOString().replace('T', ' ').replace('Z', ''), event_id: alert.id, case_id: 'C1', camera: 'cam-0002', zone: 'kerb', category: alert.category, district, cell: alert.cell, verdict: 'confirmed', reason: '', operator: 'op', model_version: '1' }]);
    const dir = tempDir('gw-node-c-');
    mkdirSync(join(dir, 'evidence', 'cam-0002', '2001-01-01'), { recursive: true });
    mkdirSync(join(dir, 'evidence', 'cam-0002', day), { recursive: true });
    const c = await node('node-c', dir);
    expect(c.hub.alerts.get(alert.id)).toMatchObject({ status: 'confirmed', caseId: 'C1', decidedBy: 'op', hasEvidence: true, alert: { id: alert.id, cameraId: 'cam-0002', zoneId: 'kerb', path: alert.path, box: [1, 2, 30, 40], className: 'car' } });
    expect(c.hub.evidenceRefs.get(alert.id)).toEqual({ node: 'node-x', path: `evidence/cam-0002/${day}/v-annotated.jpg` });
    expect((await c.archive.find(alert.id))?.alert.id).toBe(alert.id);
    await until('the old folder swept', () => !existsSync(join(dir, 'evidence', 'cam-0002', '2001-01-01')), 5000);
    expect(existsSync(join(dir, 'evidence', 'cam-0002', day))).toBe(true);
  });

  it('the camera wall on every node: statuses shared, a frame asked of the node that ingests the camera', async () => {
    const hubs = [new ConsoleHub(), new ConsoleHub()];
    const owned = [new Set(['cam-0001']), new Set(['cam-0002'])];
    const shares = await Promise.all([0, 1].map(async (i) => {
      const nc = await connect({ servers: nats.url });
      conns.push(nc);
      const share = new CameraShare({ nodeId: `node-${i}`, nc, hub: hubs[i]!, owned: () => owned[i]! });
      share.start();
      return share;
    }));
    const jpeg = await sceneJpeg({ label: 'cam-0001 on node 0' });
    hubs[0]!.frame('cam-0001', jpeg, 1_700_000_000_123);
    hubs[0]!.cameraStatus({ cameraId: 'cam-0001', state: 'up', ts: Date.now(), frameTs: 1_700_000_000_123 });
    await until('the status on node 1', () => hubs[1]!.cameras.get('cam-0001')?.frameTs === 1_700_000_000_123, 5000);
    const f = await shares[1]!.frame('cam-0001');
    expect(f?.ts).toBe(1_700_000_000_123);
    expect(Buffer.from(f!.jpeg)).toEqual(Buffer.from(jpeg));
    // Nobody ingests cam-0002 with a frame yet: no answer, no frame.
    expect(await shares[1]!.frame('cam-0002')).toBeNull();
    for (const s of shares) s.stop();
  });
});
