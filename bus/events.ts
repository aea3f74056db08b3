import type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream';
import { EventInvalidError, eventIssues, type GridEventT } from '../domain/index.ts';
import { EventPublishError } from './errors.ts';

export const EVENTS_STREAM = 'GW_EVENTS';
/** How long JetStream remembers a `Nats-Msg-Id`: a retried publish inside it never makes a second message. */
export const EVENTS_DUPLICATE_WINDOW_S = 600;

const safe = (s: string | undefined) => (s ? s.replace(/[^A-Za-z0-9_-]/g, '_') : '_');

/** `gw.events.<category>.<district>.<street>.<cell>`; `_` stands for a level the place lacks. */
export function eventSubject(e: Pick<GridEventT, 'category' | 'place'>): string {
  const p = e.place.path;
  const cell = p.length >= 3 ? p[p.length - 1] : undefined;
  return `gw.events.${safe(e.category)}.${safe(p[0])}.${safe(p[1])}.${safe(cell)}`;
}

/** Creates (or updates) the events stream; idempotent. */
export async function ensureEventsStream(jsm: JetStreamManager, opts: { maxAgeS?: number; replicas?: number } = {}): Promise<void> {
  // Copies on a NATS cluster; left as they are when not given (an update keeps the stream's).
  const cfg = { subjects: ['gw.events.>'], duplicate_window: EVENTS_DUPLICATE_WINDOW_S * 1e9, max_age: (opts.maxAgeS ?? 7 * 86_400) * 1e9, ...(opts.replicas ? { num_replicas: opts.replicas } : {}) };
  try {
    await jsm.streams.add({ name: EVENTS_STREAM, ...cfg });
  } catch {
    await jsm.streams.update(EVENTS_STREAM, cfg);
  }
}

/**
 * Publishes one event to JetStream with `Nats-Msg-Id` = event id, so that a retry never makes a
 * second case. Returns the PubAck (`duplicate` is true for a retry JetStream already holds).
 */
export async function publishEvent(js: JetStreamClient, event: GridEventT): Promise<PubAck> {
  const issues = eventIssues(event);
  if (issues.length) throw new EventInvalidError(`event ${event?.id ?? '?'}`, issues);
  const subject = eventSubject(event);
  try {
    return await js.publish(subject, JSON.stringify(event), { msgID: event.id });
  } catch (err) {
    throw new EventPublishError(subject, event.id, err);
  }
}
