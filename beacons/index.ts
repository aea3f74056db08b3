export { EmbeddedBroker, type BrokerOptions } from './broker.ts';
export { BrokerAcl, terminalTopics, SERVICE_USER_DEFAULT, type Principal } from './acl.ts';
export { BrokerListenError } from './errors.ts';
export { BeaconIngest, type BeaconIngestOptions, type BeaconStore, type TerminalEvent, type TerminalEventKind, type TerminalState, type TerminalStatus, type TerminalReportEvent, type AcceptedBeacon } from './ingest.ts';
export { parseLocation, parseReport, parseStatus, REJECT_REASONS, type RejectReason, type Limits } from './payload.ts';
export type { BeaconTable } from './schema.ts';
export { TerminalSimulator, TINY_JPEG_B64, type SimOptions } from './sim.ts';
export { mosquittoAcl } from './external-acl.ts';
export { sessionSource, type BeaconSource } from './source.ts';
