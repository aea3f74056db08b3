// The shared vocabulary: the grid event and its builders, places, and the case workflow.
export { GridEvent, EVENT_SCHEMA, EVENT_TYPES, eventIssues, parseEvent, eventJsonSchema, type GridEventT } from './event.ts';
export { cameraEvent, cameraEventAt, terminalEvent, citizenEvent, categoryCodes, type CategoryCodes, type CameraEventType, type CameraDetection, type EventPlace, type TerminalSighting, type CitizenRequest } from './event-builders.ts';
export { geolocateCameraPoint, locatePath, solveHomography, applyHomography, type GeoPoint } from './place.ts';
export {
  CASE_STATES, OPEN_STATES, CASE_LIGHTS, caseLight, CASE_ACTIONS, CONSOLE_ACTIONS, ACTIONS_NEEDING_REASON, CASE_RULES, refusal,
  type CaseState, type CaseLight, type CaseAction, type ConsoleAction, type EscalationLevel,
} from './case-state.ts';
export { CASE_SCHEMA, applyAction, newCase, reportOf, type CaseRecord, type Transition, type Report, type ActionInput, type ActionOutcome } from './case.ts';
export { EventInvalidError } from './errors.ts';
export { reverifyDue, type CameraSample } from './sample.ts';
