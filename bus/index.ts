export { EmbeddedNatsServer, findNatsServer, type NatsServerOptions, type NatsServerState } from './nats-server.ts';
export { BusConnection } from './connection.ts';
export { NatsServerMissingError, NatsServerStartError, NatsConnectError, EventPublishError } from './errors.ts';
export { EVENTS_STREAM, EVENTS_DUPLICATE_WINDOW_S, eventSubject, ensureEventsStream, publishEvent } from './events.ts';
export { publishWithRetry, publishBackoffMs, type PublishRetryOptions } from './publish-retry.ts';
