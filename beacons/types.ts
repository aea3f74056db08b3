import type { GridEventT } from '../domain/index.ts';
import type { TerminalEventKind } from '../telemetry/index.ts';

export type { TerminalEventKind } from '../telemetry/index.ts';

export type TerminalStatus = 'unknown' | 'online' | 'offline' | 'inactive';

/** An accepted beacon, for consumers beyond the beacon tables (console map, worker statistics). */
export type AcceptedBeacon =
  | { readonly kind: 'position'; readonly terminal: string; readonly tstMs: number; readonly lat: number; readonly lon: number; readonly cell: string; readonly acc?: number; readonly batt?: number; readonly velKmh?: number }
  | { readonly kind: 'report'; readonly terminal: string; readonly tstMs: number; readonly eventId: string; readonly category: string; readonly lat: number; readonly lon: number; readonly cell: string; readonly text: string; readonly evidence: readonly string[] };

/** A cell change, status change or stuck-GPS flag of a terminal; also its `terminal_events` row. */
export interface TerminalEvent {
  readonly terminal: string;
  readonly kind: TerminalEventKind;
  /** Milliseconds since the epoch: the fix time for cell and GPS events, receipt time for status. */
  readonly at: number;
  readonly cell: string;
  readonly lat: number | null;
  readonly lon: number | null;
}

/** One terminal as the ingest sees it; read through `BeaconIngest.terminal(id)`. */
export interface TerminalState {
  readonly id: string;
  status: TerminalStatus;
  cell: string;
  lat: number;
  lon: number;
  /** Fix time (s) of the newest location. */
  lastTst: number;
  /** Receipt time (ms) of the last message of any kind. */
  lastSeenMs: number;
  /** Fix time (s) since which the coordinates have not changed. */
  sameSinceTst: number;
  stuck: boolean;
}

/** The `terminal_report` event published to JetStream: a versioned gridwatch event (`domain/`). */
export type TerminalReportEvent = GridEventT;

/** The ingest's message counts; `BeaconIngest.status()` adds the stored and pending rows. */
export interface BeaconCounts {
  received: number;
  accepted: number;
  rejected: number;
  duplicates: number;
  events_published: number;
  publish_errors: number;
  /** rows the telemetry writer refused (counted and logged there too) */
  rows_refused: number;
}
