/**
 * The console's ports: small, explicit interfaces the rest of the engine plugs into.
 * - the engine pushes into a `ConsoleFeed` (alerts, case changes, terminal positions, camera status, frames);
 * - the router implements `CaseActions`;
 * - telemetry implements `StatsSource`, detectors `DetectorStatsSource`;
 * - `ZoneStore` saves a camera's zones to the config.
 * Shapes here are also what the web app receives, so they are plain JSON (no Maps, no Buffers).
 */

export { CASE_STATES, OPEN_STATES, caseLight, refusal, CONSOLE_ACTIONS, ACTIONS_NEEDING_REASON, type CaseState, type CaseLight, type ConsoleAction } from '../domain/case-state.ts';
import type { CaseState, ConsoleAction } from '../domain/case-state.ts';

/** A violation a detector raised (illegal parking, road-occupying vending…), as the operator sees it. */
export interface ConsoleAlert {
  readonly id: string;
  readonly cameraId: string;
  readonly zoneId: string;
  /** category code, e.g. `illegal_parking` */
  readonly category: string;
  readonly lat: number;
  readonly lon: number;
  /** the grid cell id and its path district → street → community → cell */
  readonly cell: string;
  readonly path: readonly string[];
  readonly className: string;
  readonly score: number;
  readonly dwellS: number;
  /** [x, y, w, h] in image pixels */
  readonly box?: readonly [number, number, number, number];
  /** ms since epoch, from the frame */
  readonly ts: number;
  readonly model?: string;
}

/** The evidence JPEG that goes with an alert; kept out of `ConsoleAlert` so alerts stay small JSON. */
export type EvidenceJpeg = Uint8Array;

/** The latest frames of cameras another node ingests (the engine asks that node over NATS). */
export interface FrameSource {
  frame(cameraId: string): Promise<{ jpeg: Uint8Array; ts: number } | null>;
}

/** Where an alert's evidence JPEG lies: a path under the data folder of the node that made it. */
export interface EvidenceRef {
  readonly node: string;
  readonly path: string;
}

/**
 * The alerts that outlive a node's memory (the engine keeps them in ClickHouse): an alert by id
 * with where its evidence lies, and the evidence JPEG itself, from this node's disk or from the
 * node that holds it.
 */
export interface AlertArchive {
  find(alertId: string): Promise<{ alert: ConsoleAlert; evidence?: EvidenceRef } | null>;
  evidence(ref: EvidenceRef): Promise<Uint8Array | null>;
  /** how long evidence is kept and served, ms */
  readonly retentionMs: number;
}

export interface CaseStep {
  readonly ts: number;
  readonly state: CaseState;
  readonly actor?: string;
  readonly note?: string;
}

/** A case as the router keeps it (a view of its KV value). */
export interface ConsoleCase {
  readonly id: string;
  readonly state: CaseState;
  readonly category: string;
  readonly cell: string;
  readonly path: readonly string[];
  readonly lat: number;
  readonly lon: number;
  /** departments it is dispatched to; a clerk sees the case only when its department is here */
  readonly departments: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
  /** ms since epoch; absent once met or not applicable */
  readonly signDeadline?: number;
  readonly resolveDeadline?: number;
  readonly missedDeadlines?: number;
  /** ids of the alerts/events grouped into this case (their evidence is served by the console) */
  readonly alerts: readonly string[];
  readonly timeline: readonly CaseStep[];
  /** the grid worker who reported it, for the ranking */
  readonly reporter?: string;
  /** times the supervision centre sent it back to the department (返工) */
  readonly reworks?: number;
}

/** A terminal's position (OwnTracks-like). */
export interface TerminalPosition {
  readonly terminalId: string;
  readonly lat: number;
  readonly lon: number;
  /** ms since epoch */
  readonly ts: number;
  readonly accM?: number;
  readonly battPct?: number;
}

export interface CameraStatus {
  readonly cameraId: string;
  readonly state: 'up' | 'degraded' | 'down';
  readonly reason?: string;
  readonly ts: number;
  /** ms since epoch of the latest sampled frame */
  readonly frameTs?: number;
}

/** What the engine pushes into the console. Calls are cheap and never throw on bad input. */
export interface ConsoleFeed {
  /** a new alert with its evidence: the JPEG itself, or where it lies (the engine's evidence files) */
  alert(alert: ConsoleAlert, evidence?: EvidenceJpeg | EvidenceRef): void;
  caseChanged(c: ConsoleCase): void;
  /** a closed case past its retention left the router */
  caseRemoved(id: string): void;
  terminalPosition(p: TerminalPosition): void;
  cameraStatus(s: CameraStatus): void;
  /** the latest sampled frame of a camera (for the camera wall and the zone editor) */
  frame(cameraId: string, jpeg: Uint8Array, ts: number): void;
  /** whether an operator asked for the camera's frame within the last minute: its frames then come from every sample */
  watching(cameraId: string): boolean;
}

export interface Actor {
  readonly username: string;
  readonly role: Role;
  readonly department?: string;
}

/** Case actions the router allows; each resolves to the case after the change (and also reports it via `caseChanged`). */
export interface CaseActions {
  /** an operator confirmed an alert: it becomes a new case or joins an open one nearby */
  confirmAlert(alert: ConsoleAlert, actor: Actor): Promise<ConsoleCase>;
  dispatch(caseId: string, actor: Actor, departments?: readonly string[]): Promise<ConsoleCase>;
  /** a department sends the case back (wrong department) */
  returnCase(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase>;
  escalate(caseId: string, actor: Actor): Promise<ConsoleCase>;
  verifyClose(caseId: string, actor: Actor): Promise<ConsoleCase>;
  /** the supervision centre files a reported case (立案), for the command centre to dispatch */
  file(caseId: string, actor: Actor): Promise<ConsoleCase>;
  /** the supervision centre sends a resolved case back to its department (返工), with the reason */
  rework(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase>;
  reopen(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase>;
  markInvalid(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase>;
  /** hands the case to another department (a command-centre decision) */
  transfer(caseId: string, actor: Actor, department: string): Promise<ConsoleCase>;
  /** an operator dismissed an alert as a false positive: its case, if one was opened, is invalid */
  dismissAlert?(alert: ConsoleAlert, actor: Actor, reason: string): Promise<void>;
}

/** Statistics (from the telemetry API). */
export interface StatsQuery { readonly fromMs: number; readonly toMs: number }
export interface ConsoleStats {
  readonly casesPerDay: readonly { day: string; opened: number; closed: number }[];
  readonly categoryShares: readonly { category: string; count: number }[];
  readonly closureRate: number;
  readonly onTimeSignRate: number;
  readonly onTimeCloseRate: number;
  readonly departments: readonly { department: string; cases: number; closed: number; onTimeSignRate: number; onTimeCloseRate: number }[];
  readonly workers: readonly { worker: string; reports: number; closed: number }[];
  /** the bottom of the worker ranking (yellow-light warning) */
  readonly yellowLight: readonly string[];
}
export interface StatsSource { stats(q: StatsQuery): Promise<ConsoleStats> }

/**
 * Detector figures per camera and zone (the engine's detector stage; a camera's figures repeat on
 * each of its zones); the console adds raised, confirmed and dismissed itself.
 */
export interface DetectorZoneStats {
  readonly cameraId: string;
  readonly zoneId: string;
  /** inference time of the camera's recent inferred samples, ms */
  readonly inferenceMsP50?: number;
  readonly inferenceMsP99?: number;
  /** samples taken from the camera: received by the detectors, or skipped before decoding */
  readonly samples?: number;
  /** samples dropped because the camera's detector queue was full */
  readonly dropped?: number;
  /** samples change gating spared from inference (before decoding or after) */
  readonly gated?: number;
  /** of those, samples not even decoded: their P-frames stayed in the camera's noise band */
  readonly decodesSkipped?: number;
  /** share of samples change gating skipped (0–1) */
  readonly gatingSavedRatio?: number;
}
export interface DetectorStatsSource { detectorStats(): Promise<readonly DetectorZoneStats[]> }

export interface TuningRow extends DetectorZoneStats { readonly raised: number; readonly dismissed: number; readonly confirmed: number }

/** Saves a camera's zones to the city config; the returned zones have defaults applied. */
export interface ZoneStore { saveZones(cameraId: string, zones: readonly unknown[]): Promise<readonly unknown[]> }

export const ROLES = ['operator', 'supervisor', 'command', 'clerk', 'admin'] as const;
export type Role = (typeof ROLES)[number];
