export { EmbeddedNatsServer, findNatsServer, type NatsServerOptions, type NatsServerState } from './nats-server.ts';
export { BusConnection } from './connection.ts';
export { NatsServerMissingError, NatsServerStartError, NatsConnectError, EventInvalidError, EventPublishError } from './errors.ts';
export { GridEvent, EVENT_SCHEMA, EVENT_TYPES, EVENTS_STREAM, EVENTS_DUPLICATE_WINDOW_S, eventIssues, parseEvent, eventSubject, ensureEventsStream, publishEvent, eventJsonSchema, type GridEventT } from './events.ts';
export { geolocateCameraPoint, cameraEvent, locatePath, solveHomography, applyHomography, type GeoPoint, type CameraDetection } from './geolocate.ts';
