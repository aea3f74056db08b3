import mqtt, { type MqttClient } from 'mqtt';
import type { City, TerminalT } from '../config/index.ts';
import { seededRandom, type Logger } from '../core/index.ts';

/** A 16×16 grey JPEG, for simulated report photos. */
export const TINY_JPEG_B64 = '/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAgUFBcUFxsbGxsbGyAeICEhISAgICAhISEkJCQqKiokJCQhISQkKCgqKi4vLisrKisvLzIyMjw8OTlGRkhWVmf/xABKAAEAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAEAEAAAAAAAAAAAAAAAAAAAAAEQEAAAAAAAAAAAAAAAAAAAAA/8AAEQgAEAAQAwEiAAIRAAMRAP/aAAwDAQACEQMRAD8AAA//2Q==';

export interface TerminalSimOptions {
  readonly url: string;
  readonly city: City;
  /** The terminals to simulate, with the passwords they log in with. */
  readonly terminals: readonly TerminalT[];
  readonly log: Logger;
  /** Seconds between beacons of one terminal. */
  readonly intervalS?: number;
  /** Mean seconds between reports of one terminal; 0 for none. */
  readonly reportEveryS?: number;
  /** Share of messages sent malformed (not JSON, missing fields, out of range, future). */
  readonly malformedRate?: number;
  /** Share of messages sent to another terminal's topic (refused by the broker's ACL). */
  readonly unauthorisedRate?: number;
  /** Walking speed, m/s. */
  readonly speedMps?: number;
  readonly seed?: number;
}

interface Walker {
  readonly t: TerminalT;
  client: MqttClient | null;
  /** Patrol loop corners, [lat, lon]. */
  readonly route: readonly [number, number][];
  leg: number;
  /** Metres along the current leg. */
  along: number;
  dueMs: number;
  batt: number;
}


const M_PER_DEG = 111_320;

/**
 * `gridwatch sim terminals`: grid workers walking patrol loops inside their cells, one MQTT
 * session each with a last will, a beacon every few seconds and now and then a report.
 */
export class TerminalSimulator {
  readonly #o: TerminalSimOptions;
  readonly #walkers: Walker[] = [];
  readonly #random: () => number;
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;
  readonly counts = { location: 0, report: 0, malformed: 0, unauthorised: 0, errors: 0 };

  constructor(opts: TerminalSimOptions) {
    this.#o = opts;
    this.#random = seededRandom(opts.seed ?? 7);
    for (const t of opts.terminals) {
      const cell = opts.city.areas.get(t.cell);
      if (!cell) continue;
      let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
      for (const [x, y] of cell.ring) [x0, y0, x1, y1] = [Math.min(x0, x!), Math.min(y0, y!), Math.max(x1, x!), Math.max(y1, y!)];
      // A loop around the cell's box, 15% in from its edges (cells in the demo city are rectangles).
      const ix = (x1 - x0) * 0.15, iy = (y1 - y0) * 0.15;
      const route: [number, number][] = [[y1 - iy, x0 + ix], [y1 - iy, x1 - ix], [y0 + iy, x1 - ix], [y0 + iy, x0 + ix]];
      this.#walkers.push({ t, client: null, route, leg: Math.floor(this.#random() * 4), along: 0, dueMs: 0, batt: 60 + Math.floor(this.#random() * 40) });
    }
  }

  get size(): number {
    return this.#walkers.length;
  }

  async start(): Promise<void> {
    const interval = (this.#o.intervalS ?? 5) * 1000;
    const now = Date.now();
    await Promise.all(this.#walkers.map(async (w, i) => {
      const status = `gw/terminals/${w.t.id}/status`;
      w.client = await mqtt.connectAsync(this.#o.url, {
        username: w.t.username ?? w.t.id,
        password: w.t.password,
        clientId: `sim-${w.t.id}`,
        reconnectPeriod: 1000,
        will: { topic: status, payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1, retain: true },
      });
      w.client.on('error', () => this.counts.errors++);
      await w.client.publishAsync(status, JSON.stringify({ state: 'online', tst: Math.floor(Date.now() / 1000) }), { qos: 1, retain: true });
      w.dueMs = now + (interval * i) / this.#walkers.length; // spread the beacons over the period
    }));
    this.#lastTick = now;
    this.#timer = setInterval(() => this.#tick(), Math.min(250, interval));
    this.#o.log.info({ terminals: this.#walkers.length, url: this.#o.url, interval_s: interval / 1000 }, 'simulated terminals walking');
  }

  /** Disconnects every terminal cleanly (its status becomes offline by its own message, not the will). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    await Promise.all(this.#walkers.map(async (w) => {
      const client = w.client;
      w.client = null;
      if (!client) return;
      if (client.connected) await bounded(client.publishAsync(`gw/terminals/${w.t.id}/status`, JSON.stringify({ state: 'offline' }), { qos: 1, retain: true }));
      await bounded(client.endAsync(!client.connected));
    }));
  }

  /** Drops every connection without a DISCONNECT, so that the broker sends the last wills. */
  kill(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const w of this.#walkers) {
      w.client?.stream.destroy();
      w.client?.end(true);
      w.client = null;
    }
  }

  #tick(): void {
    const now = Date.now();
    const interval = (this.#o.intervalS ?? 5) * 1000;
    const dt = (now - this.#lastTick) / 1000;
    this.#lastTick = now;
    const speed = this.#o.speedMps ?? 1.3;
    for (const w of this.#walkers) {
      this.#walk(w, speed * dt);
      if (now < w.dueMs || !w.client?.connected) continue;
      w.dueMs += interval;
      if (w.dueMs < now) w.dueMs = now + interval;
      this.#beacon(w, now, speed);
    }
  }

  #walk(w: Walker, metres: number): void {
    for (let guard = 0; metres > 0 && guard < 8; guard++) {
      const [a, b] = [w.route[w.leg]!, w.route[(w.leg + 1) % w.route.length]!];
      const len = this.#legLength(a, b);
      if (w.along + metres < len) {
        w.along += metres;
        return;
      }
      metres -= len - w.along;
      w.along = 0;
      w.leg = (w.leg + 1) % w.route.length;
    }
  }

  #legLength(a: readonly [number, number], b: readonly [number, number]): number {
    const dy = (b[0] - a[0]) * M_PER_DEG, dx = (b[1] - a[1]) * M_PER_DEG * Math.cos((a[0] * Math.PI) / 180);
    return Math.hypot(dx, dy);
  }

  #position(w: Walker): { lat: number; lon: number; cog: number } {
    const a = w.route[w.leg]!, b = w.route[(w.leg + 1) % w.route.length]!;
    const f = w.along / Math.max(1e-9, this.#legLength(a, b));
    const cog = (Math.atan2((b[1] - a[1]) * Math.cos((a[0] * Math.PI) / 180), b[0] - a[0]) * 180) / Math.PI;
    return { lat: +(a[0] + (b[0] - a[0]) * f).toFixed(7), lon: +(a[1] + (b[1] - a[1]) * f).toFixed(7), cog: Math.round((cog + 360) % 360) };
  }

  #beacon(w: Walker, now: number, speed: number): void {
    const client = w.client!;
    const { lat, lon, cog } = this.#position(w);
    const tst = Math.floor(now / 1000);
    const r = this.#random();
    const malformed = this.#o.malformedRate ?? 0, unauth = this.#o.unauthorisedRate ?? 0;
    const own = `gw/terminals/${w.t.id}`;
    const send = (topic: string, body: string) => client.publish(topic, body, { qos: 1 }, (err) => err && this.counts.errors++);
    if (r < malformed) {
      this.counts.malformed++;
      const bad = [
        'not json at all',
        JSON.stringify({ _type: 'location', lat, lon }),
        JSON.stringify({ _type: 'location', lat: 123, lon, tst }),
        JSON.stringify({ _type: 'location', lat: lat + 1, lon, tst }),
        JSON.stringify({ _type: 'location', lat, lon, tst: tst + 3600 }),
      ];
      return void send(`${own}/location`, bad[Math.floor(this.#random() * bad.length)]!);
    }
    if (r < malformed + unauth && this.#walkers.length > 1) {
      this.counts.unauthorised++;
      const other = this.#walkers[(this.#walkers.indexOf(w) + 1) % this.#walkers.length]!;
      // QoS 0: a refused QoS 1 publish would be re-sent after every reconnect, for ever.
      return void client.publish(`gw/terminals/${other.t.id}/location`, JSON.stringify({ _type: 'location', lat, lon, tst }), { qos: 0 });
    }
    w.batt = Math.max(5, w.batt - 0.01);
    send(`${own}/location`, JSON.stringify({ _type: 'location', lat, lon, tst, acc: 8, vel: Math.round(speed * 3.6), cog, batt: Math.round(w.batt), conn: 'm', tid: w.t.id.slice(-2) }));
    this.counts.location++;
    const every = this.#o.reportEveryS ?? 0;
    if (every > 0 && this.#random() < (this.#o.intervalS ?? 5) / every) {
      const cats = [...this.#o.city.categories.keys()];
      const category = cats[Math.floor(this.#random() * cats.length)]!;
      send(`${own}/report`, JSON.stringify({ _type: 'report', category, text: `${w.t.worker}: ${category} at ${lat.toFixed(5)}, ${lon.toFixed(5)}`, lat, lon, tst, photo: TINY_JPEG_B64 }));
      this.counts.report++;
    }
  }
}
