import { GridwatchError } from '../core/index.ts';

/** The nats-server binary is not installed. */
export class NatsServerMissingError extends GridwatchError {
  constructor(tried: readonly string[]) {
    super('BUS_NATS_SERVER_MISSING', `nats-server not found (looked in ${tried.join(', ')}); install it with: apt-get install nats-server`, { details: { tried } });
  }
}

/** The embedded nats-server did not become ready. */
export class NatsServerStartError extends GridwatchError {
  constructor(message: string, cause?: unknown) {
    super('BUS_NATS_SERVER_START', message, { cause });
  }
}

/** Cannot connect to a NATS server. */
export class NatsConnectError extends GridwatchError {
  constructor(url: string, cause: unknown) {
    super('BUS_NATS_CONNECT', `cannot connect to NATS at ${url}: ${(cause as Error)?.message ?? String(cause)}; check services.nats.url or NATS_URL`, { cause, details: { url } });
  }
}

/** JetStream did not take an event. */
export class EventPublishError extends GridwatchError {
  constructor(subject: string, id: string, cause: unknown) {
    super('BUS_EVENT_PUBLISH', `cannot publish event ${id} on ${subject}: ${(cause as Error)?.message ?? String(cause)}; is JetStream enabled and the GW_EVENTS stream there?`, { cause, details: { subject, id } });
  }
}
