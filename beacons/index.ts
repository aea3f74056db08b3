export { EmbeddedBroker, type BrokerOptions } from './broker.ts';
export { BrokerAcl, terminalTopics, SERVICE_USER_DEFAULT, type Principal } from './acl.ts';
export { BrokerListenError } from './errors.ts';
export { BeaconIngest, type BeaconIngestOptions } from './ingest.ts';
export type { TerminalEvent, TerminalEventKind, TerminalState, TerminalStatus, TerminalReportEvent, AcceptedBeacon, BeaconCounts } from './types.ts';
export { parseLocation, parseReport, parseStatus, REJECT_REASONS, type RejectReason, type Limits } from './payload.ts';
export { BEACON_TABLES, type BeaconTable, type BeaconRows, type BeaconRowSink, type BeaconStore } from './schema.ts';
export { mosquittoAcl } from './external-acl.ts';
export { sessionSource, type BeaconSource } from './source.ts';
