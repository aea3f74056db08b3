import type { GridEventT } from './event.ts';
import { ACTIONS_NEEDING_REASON, CASE_RULES, refusal, type CaseAction, type CaseState, type EscalationLevel } from './case-state.ts';

export const CASE_SCHEMA = 'gridwatch.case/v1' as const;
export interface Transition {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: CaseAction;
  readonly from: CaseState | null;
  readonly to: CaseState;
  readonly reason?: string;
  readonly department?: string;
  /** The event that caused it, so that a redelivered event re-emits exactly its own effects. */
  readonly event_id?: string;
  readonly level?: EscalationLevel;
  readonly area?: string;
  readonly deadline?: string;
}

export interface Report {
  readonly event_id: string;
  readonly type: GridEventT['type'];
  readonly source: GridEventT['source'];
  readonly at: string;
  readonly lat: number;
  readonly lon: number;
  readonly evidence: readonly string[];
  readonly object?: GridEventT['object'];
  readonly model?: GridEventT['model'];
  readonly description?: string;
}

export interface CaseRecord {
  readonly schema: typeof CASE_SCHEMA;
  readonly id: string;
  /** Sibling cases of a joint handling (one per department), this one included. */
  readonly joint: readonly string[];
  readonly category: string;
  /** The category's codes in the national standard (CJ/T 214) and the city's list, from the opening event. */
  readonly standard_code?: string;
  readonly local_code?: string;
  readonly state: CaseState;
  readonly department: string;
  readonly rules: readonly string[];
  readonly place: { readonly lat: number; readonly lon: number; readonly path: readonly string[] };
  readonly level: EscalationLevel;
  readonly reports: readonly Report[];
  readonly report_count: number;
  readonly created_at: string;
  readonly updated_at: string;
  readonly last_report_at: string;
  readonly deadline: { readonly kind: 'sign' | 'resolve'; readonly at: string } | null;
  readonly missed: number;
  /** Times the supervision centre sent the resolved case back to the department (返工). */
  readonly reworks?: number;
  /** The closed case of the same category at the same place this one repeats, when reported within the repeat window. */
  readonly repeat_of?: string;
  readonly returned_by: readonly string[];
  readonly result?: string;
  readonly rating?: number;
  readonly sla: string;
  readonly seq: number;
  readonly history: readonly Transition[];
}

export interface ActionInput {
  readonly action: CaseAction;
  readonly actor: string;
  readonly at: Date;
  readonly reason?: string;
  readonly department?: string;
  readonly result?: string;
  readonly rating?: number;
  readonly event_id?: string;
  readonly report?: Report;
  /** For `dispatch`/`transfer`/`deadline_missed`: the deadline that starts, when any. */
  readonly deadline?: CaseRecord['deadline'];
  readonly level?: EscalationLevel;
  readonly area?: string;
}

export type ActionOutcome = { readonly ok: true; readonly record: CaseRecord; readonly transition: Transition } | { readonly ok: false; readonly reason: string };

/**
 * The case state machine: applies one action to a record and returns the next record, or the
 * reason it is refused. Pure: the caller writes the result by compare-and-set.
 */
export function applyAction(c: CaseRecord, input: ActionInput): ActionOutcome {
  const why = refusal(c.state, input.action);
  if (why) return { ok: false, reason: why };
  if (input.action === 'resolve' && input.rating !== undefined && !(input.rating >= 1 && input.rating <= 5)) return { ok: false, reason: 'rating must be 1 to 5' };
  if (ACTIONS_NEEDING_REASON.has(input.action) && !input.reason) return { ok: false, reason: `${input.action} needs a reason` };
  const to = CASE_RULES[input.action].to ?? c.state;
  const at = input.at.toISOString();
  const seq = c.seq + 1;
  let next: { -readonly [K in keyof CaseRecord]: CaseRecord[K] } = { ...c, state: to, updated_at: at, seq };
  switch (input.action) {
    case 'add_report':
      if (input.report) {
        next.reports = [...c.reports, input.report];
        next.report_count = c.report_count + 1;
        next.last_report_at = input.report.at > c.last_report_at ? input.report.at : c.last_report_at;
      }
      break;
    case 'dispatch':
      next.department = input.department ?? c.department;
      next.deadline = input.deadline ?? null;
      break;
    case 'transfer':
      next.department = input.department ?? c.department;
      next.deadline = input.deadline ?? null;
      break;
    case 'sign':
    case 'deadline_missed':
    case 'escalate':
      next.deadline = input.deadline === undefined ? c.deadline : input.deadline;
      if (input.action === 'deadline_missed') next.missed = c.missed + 1;
      if (input.level) next.level = input.level;
      break;
    case 'resolve':
      next.deadline = null;
      if (input.result !== undefined) next.result = input.result;
      if (input.rating !== undefined) next.rating = input.rating;
      break;
    case 'return':
      next.deadline = null;
      next.returned_by = [...c.returned_by, c.department];
      break;
    case 'rework':
      next.reworks = (c.reworks ?? 0) + 1;
      next.deadline = input.deadline ?? null;
      next.result = undefined;
      break;
    case 'close':
    case 'invalidate':
      next.deadline = null;
      break;
    case 'reopen':
      next.deadline = null;
      next.result = undefined;
      break;
    default:
      break;
  }
  const t: Transition = clean({
    seq, at, actor: input.actor, action: input.action, from: c.state, to,
    reason: input.reason, department: next.department, event_id: input.event_id,
    level: input.level, area: input.area, deadline: next.deadline?.at,
  });
  next.history = [...c.history, t];
  next = clean(next);
  return { ok: true, record: next, transition: t };
}

/** A new case from its first event: `reported`, seq 1. */
export function newCase(id: string, joint: readonly string[], e: GridEventT, department: string, rules: readonly string[], sla: string, at: Date): CaseRecord {
  const report = reportOf(e);
  const t: Transition = clean({ seq: 1, at: at.toISOString(), actor: `${e.source.kind}:${e.source.id}`, action: 'report' as const, from: null, to: 'reported' as const, department, event_id: e.id });
  return {
    schema: CASE_SCHEMA, id, joint, category: e.category, ...(e.standard_code ? { standard_code: e.standard_code } : {}), ...(e.local_code ? { local_code: e.local_code } : {}),
    state: 'reported', department, rules,
    place: { lat: e.place.lat, lon: e.place.lon, path: e.place.path }, level: 'cell',
    reports: [report], report_count: 1, created_at: t.at, updated_at: t.at, last_report_at: report.at,
    deadline: null, missed: 0, returned_by: [], sla, seq: 1, history: [t],
  };
}

export function reportOf(e: GridEventT): Report {
  return clean({ event_id: e.id, type: e.type, source: e.source, at: e.confirmed_at, lat: e.place.lat, lon: e.place.lon, evidence: e.evidence ?? [], object: e.object, model: e.model, description: e.description });
}

/** Drops undefined fields so that records stay small and compare equal after a JSON round trip. */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
