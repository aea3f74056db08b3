export { EmbeddedNatsServer, findNatsServer, type NatsServerOptions, type NatsServerState } from './nats-server.ts';
export { BusConnection } from './connection.ts';
export { NatsServerMissingError, NatsServerStartError, NatsConnectError } from './errors.ts';
