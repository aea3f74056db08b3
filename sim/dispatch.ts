import { jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../core/index.ts';
import { DISPATCH_STREAM, dispatchDurable, type DispatchOrder } from '../router/index.ts';

export interface DispatchSimOptions {
  readonly nc: NatsConnection;
  readonly departments: readonly string[];
  readonly log: Logger;
  /** Uniform delay ranges, in seconds. */
  readonly signDelayS?: readonly [number, number];
  readonly resolveDelayS?: readonly [number, number];
  /** Share of orders left unsigned, so that their deadlines pass. */
  readonly missRate?: number;
  /** Share of orders returned as "not ours". */
  readonly returnRate?: number;
  readonly random?: () => number;
}

export interface DispatchSimStatus {
  orders: number;
  signed: number;
  resolved: number;
  returned: number;
  ignored: number;
  errors: number;
}

const RESULTS = ['vehicle moved on', 'ticket issued and vehicle towed', 'stall cleared, trader warned', 'area cleaned', 'notice removed', 'repaired'];

/**
 * A pretend department work-order system: reads orders from each department's durable consumer
 * and answers on `gw.dispatch.ack.<department>`: signs and resolves after random delays,
 * sometimes returns an order, and sometimes never signs so that deadlines are missed.
 */
export class DispatchSimulator {
  readonly #o: Required<Omit<DispatchSimOptions, 'nc' | 'departments' | 'log'>>;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #departments: readonly string[];
  readonly #consumers: ConsumerMessages[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #status: DispatchSimStatus = { orders: 0, signed: 0, resolved: 0, returned: 0, ignored: 0, errors: 0 };
  #stopped = false;

  constructor(o: DispatchSimOptions) {
    this.#nc = o.nc;
    this.#log = o.log;
    this.#departments = o.departments;
    this.#o = { signDelayS: o.signDelayS ?? [1, 20], resolveDelayS: o.resolveDelayS ?? [5, 60], missRate: o.missRate ?? 0.1, returnRate: o.returnRate ?? 0.05, random: o.random ?? Math.random };
  }

  async start(): Promise<void> {
    const js = jetstream(this.#nc);
    for (const d of this.#departments) {
      const consumer = await js.consumers.get(DISPATCH_STREAM, dispatchDurable(d));
      const messages = await consumer.consume({ max_messages: 256 });
      this.#consumers.push(messages);
      void (async () => {
        for await (const m of messages) this.#onOrder(d, m);
      })();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(this.#consumers.map((c) => c.close().catch(() => undefined)));
  }

  status(): DispatchSimStatus {
    return { ...this.#status };
  }

  #delay([a, b]: readonly [number, number]): number {
    return (a + this.#o.random() * (b - a)) * 1000;
  }

  #later(ms: number, fn: () => Promise<void>): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#stopped) void fn().catch(() => this.#status.errors++);
    }, ms);
    this.#timers.add(t);
  }

  async #send(department: string, body: object): Promise<{ status: string; code?: string }> {
    let reply;
    // While no router is active (a standby is taking over) nobody answers: try again, bounded.
    for (let attempt = 1; ; attempt++) {
      try {
        reply = await this.#nc.request(`gw.dispatch.ack.${department}`, JSON.stringify(body), { timeout: 5000 });
        break;
      } catch (err) {
        const e = err as Error & { cause?: Error };
        if (!/no responders/i.test(`${e.message} ${e.cause?.message ?? ''}`) || attempt >= 30 || this.#stopped) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const r = reply.json<{ status: string; code?: string; reason?: string }>();
    if (r.status !== 'applied') {
      this.#status.errors++;
      this.#log.debug({ department, body, reply: r }, 'ack not applied');
    }
    return r;
  }

  #onOrder(department: string, m: JsMsg): void {
    m.ack();
    let order: DispatchOrder;
    try {
      order = m.json<DispatchOrder>();
    } catch {
      this.#status.errors++;
      return;
    }
    this.#status.orders++;
    const roll = this.#o.random();
    if (roll < this.#o.missRate) {
      this.#status.ignored++;
      return;
    }
    const id = order.case_id;
    if (order.action === 'rework') {
      // Sent back by the supervision centre: the case is still signed; handle it again.
      this.#later(this.#delay(this.#o.resolveDelayS), async () => {
        if ((await this.#send(department, { case_id: id, action: 'resolve', actor: `sim:${department}`, result: 'handled again after rework', rating: 4 })).status === 'applied') this.#status.resolved++;
      });
      return;
    }
    if (roll < this.#o.missRate + this.#o.returnRate) {
      this.#later(this.#delay(this.#o.signDelayS), async () => {
        if ((await this.#send(department, { case_id: id, action: 'return', actor: `sim:${department}`, reason: 'not handled by this department' })).status === 'applied') this.#status.returned++;
      });
      return;
    }
    this.#later(this.#delay(this.#o.signDelayS), async () => {
      if ((await this.#send(department, { case_id: id, action: 'sign', actor: `sim:${department}` })).status !== 'applied') return;
      this.#status.signed++;
      this.#later(this.#delay(this.#o.resolveDelayS) / 2, async () => {
        await this.#send(department, { case_id: id, action: 'progress', actor: `sim:${department}`, reason: 'crew on site' });
        this.#later(this.#delay(this.#o.resolveDelayS) / 2, async () => {
          const result = RESULTS[Math.floor(this.#o.random() * RESULTS.length)]!;
          const rating = 3 + Math.floor(this.#o.random() * 3);
          if ((await this.#send(department, { case_id: id, action: 'resolve', actor: `sim:${department}`, result, rating })).status === 'applied') this.#status.resolved++;
        });
      });
    });
  }
}
