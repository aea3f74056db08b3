/**
 * Load generator for beacon-ingest.bench.ts, run as a forked child so that publishing does not
 * share an event loop with what is measured. Many terminal sessions publish OwnTracks locations
 * at QoS 1: at a fixed total rate, or (rate 0) as fast as a window of unacknowledged messages
 * per session allows. Reports progress and the result to the parent over IPC.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { LeanTerminal } from './lean-terminal.ts';

interface Args {
  url: string;
  terminals: { id: string; password: string }[];
  /** Service credentials for the raw mode, where every session logs in as the service user. */
  service?: { username: string; password: string };
  rate: number;
  durationS: number;
  window: number;
  bounds: [number, number, number, number];
  /** `lean`: a minimal MQTT publisher per terminal (the default); `mqttjs`: one mqtt.js client each. */
  publisher: 'lean' | 'mqttjs';
}

const args = JSON.parse(process.argv[2]!) as Args;

/** One simulated terminal's session, whichever client it runs on. */
interface Session {
  publish(topic: string, body: string, onAck: (err?: Error) => void): void;
  close(): Promise<void>;
}

async function openSession(t: { id: string; password: string }): Promise<Session> {
  const login = { username: args.service?.username ?? t.id, password: args.service?.password ?? t.password, clientId: `load-${t.id}` };
  if (args.publisher === 'mqttjs') {
    const c: MqttClient = await mqtt.connectAsync(args.url, { ...login, reconnectPeriod: 0, keepalive: 60 });
    return { publish: (topic, body, onAck) => void c.publish(topic, body, { qos: 1 }, onAck), close: () => c.endAsync().then(() => undefined) };
  }
  const pending: ((err?: Error) => void)[] = [];
  const lean = await LeanTerminal.open({ url: args.url, ...login }, () => pending.shift()?.(), () => { for (const ack of pending.splice(0)) ack(new Error('connection closed')); });
  return { publish: (topic, body, onAck) => { pending.push(onAck); lean.publish(topic, body); }, close: () => lean.close() };
}

async function main(): Promise<void> {
  const clients: Session[] = [];
  const batch = 50;
  for (let i = 0; i < args.terminals.length; i += batch) {
    clients.push(...(await Promise.all(args.terminals.slice(i, i + batch).map(openSession))));
  }
  const n = clients.length;
  const topics = args.terminals.map((t) => `gw/terminals/${t.id}/location`);
  const lastMs = new Float64Array(n);
  const inflight = new Int32Array(n);
  const [x0, y0, x1, y1] = args.bounds;
  // Each terminal patrols around a point of its own, a few tens of metres either way, as a
  // walking worker does between two beacons: cell changes are rare, as in the field.
  const home = Array.from({ length: n }, () => [y0 + Math.random() * (y1 - y0), x0 + Math.random() * (x1 - x0)] as const);
  let sent = 0, acked = 0, failed = 0, next = 0;
  process.send!({ type: 'ready', sessions: n });
  await new Promise<void>((r) => process.once('message', () => r())); // "go"

  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const tsBase = Date.now();
  const end = t0 + args.durationS * 1000;
  const onAck = (i: number) => (err?: Error) => {
    inflight[i]!--;
    if (err) failed++;
    else acked++;
  };
  const acks = Array.from({ length: n }, (_, i) => onAck(i));
  const publishOne = (i: number) => {
    // A unique, increasing millisecond timestamp per terminal: every beacon is a distinct fix.
    let ms = tsBase + Math.floor(performance.now() - t0);
    if (ms <= lastMs[i]!) ms = lastMs[i]! + 1;
    lastMs[i] = ms;
    const lat = home[i]![0] + (Math.random() - 0.5) * 0.0004, lon = home[i]![1] + (Math.random() - 0.5) * 0.0005;
    const body = `{"_type":"location","lat":${lat.toFixed(7)},"lon":${lon.toFixed(7)},"tst":${ms / 1000},"acc":8,"vel":4,"batt":80,"conn":"m"}`;
    inflight[i]!++;
    sent++;
    clients[i]!.publish(topics[i]!, body, acks[i]!);
  };

  let lastReport = t0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (now >= end) return resolve();
      if (args.rate > 0) {
        // Terminals keep a window of unacknowledged messages, as real clients do: a broker that
        // falls behind slows the publishers down instead of buffering without bound.
        const due = Math.floor(((now - t0) / 1000) * args.rate) - sent;
        for (let k = 0, tried = 0; k < due && tried < n; tried++) {
          if (inflight[next]! < args.window) {
            publishOne(next);
            k++;
          }
          next = (next + 1) % n;
        }
      } else {
        // As fast as the broker takes them: top every session up to its window.
        for (let k = 0; k < n; k++) {
          const i = (next + k) % n;
          while (inflight[i]! < args.window) publishOne(i);
        }
        next = (next + 1) % n;
      }
      if (now - lastReport >= 1000) {
        lastReport = now;
        process.send!({ type: 'progress', sent, acked });
      }
      if (args.rate > 0) setTimeout(tick, 5);
      else setImmediate(tick);
    };
    tick();
  });
  const publishEnd = performance.now();
  const cpu = process.cpuUsage(cpu0);
  // Wait (bounded) for the last PUBACKs.
  for (let i = 0; i < 300 && acked + failed < sent; i++) await new Promise((r) => setTimeout(r, 100));
  process.send!({ type: 'done', sent, acked, failed, publish_s: (publishEnd - t0) / 1000, first_publish_wall_ms: tsBase, cpu_s: (cpu.user + cpu.system) / 1e6 });
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  process.exit(0);
}

main().catch((err) => {
  process.send!({ type: 'error', message: (err as Error).message });
  process.exit(1);
});
