import type { CaseRouter } from '../router/index.ts';
import { categoryCodes, type CaseRecord, type Transition } from '../domain/index.ts';
import type { CaseTransitionRow, TelemetryWriter } from '../telemetry/index.ts';

/** Router states the case rollups count, and what each transition counts as. */
function telemetryState(t: Transition): CaseTransitionRow['to_state'] | null {
  if (t.action === 'escalate' || t.action === 'deadline_missed') return t.to === 'transferred' ? 'transferred' : 'escalated';
  if (t.from === t.to) return null; // progress notes and added reports: no step
  switch (t.to) {
    case 'reported': case 'dispatched': case 'signed': case 'resolved': case 'closed': case 'transferred': case 'reopened':
      return t.to;
    default:
      return null; // returned (re-routed) and invalid (a dismissed false positive) are not steps of the loop
  }
}

/**
 * Writes a `case_transitions` row for every step of every case that this node wrote, for the statistics. The
 * deadline on a row is the limit that step had to meet (the sign limit on `signed`…), which is
 * the deadline the case carried just before the step.
 */
export function recordCaseSteps(router: CaseRouter, writer: TelemetryWriter): () => void {
  const codes = (category: string) => categoryCodes(router.city, category);
  const pending = new Map<string, string | null>(); // case id → the deadline now running
  return router.onTransition((c: CaseRecord, t: Transition, local: boolean) => {
    const met = pending.get(c.id) ?? null;
    pending.set(c.id, c.deadline?.at ?? null);
    if (c.state === 'closed' || c.state === 'invalid') pending.delete(c.id);
    const state = telemetryState(t);
    // Every node hears every transition; the one that wrote it writes its row, so rows are
    // written once in a cluster that shares one ClickHouse.
    if (!state || !local) return;
    const [district = '', street = ''] = c.place.path;
    writer.write('case_transitions', {
      ts: Date.parse(t.at),
      case_id: c.id,
      ...(t.event_id ? { event_id: t.event_id } : {}),
      ...(t.from ? { from_state: t.from } : {}),
      to_state: state,
      category: c.category,
      standard_code: codes(c.category).standard_code ?? '',
      local_code: codes(c.category).local_code ?? '',
      district,
      street,
      cell: c.place.path[c.place.path.length - 1] ?? '',
      department: state === 'reported' ? '' : c.department,
      actor: t.actor,
      opened_at: Date.parse(c.created_at),
      deadline: state === 'signed' || state === 'resolved' ? (met ? Date.parse(met) : null) : null,
      ...(t.reason ? { note: t.reason } : {}),
    });
  });
}
