import type { CaseRouter } from '../router/index.ts';
import { categoryCodes, type CaseRecord, type Transition } from '../domain/index.ts';
import type { CaseTransitionRow, TelemetryWriter } from '../telemetry/index.ts';

/** Router states the case rollups and indicators count, and what each transition counts as. */
function telemetryState(t: Transition): CaseTransitionRow['to_state'] | null {
  if (t.action === 'escalate' || t.action === 'deadline_missed') return t.to === 'transferred' ? 'transferred' : 'escalated';
  if (t.action === 'rework') return 'reworked'; // back to signed, but no second signing
  if (t.from === t.to) return null; // progress notes and added reports: no step
  switch (t.to) {
    case 'reported': case 'filed': case 'dispatched': case 'signed': case 'resolved': case 'closed': case 'transferred': case 'reopened': case 'returned':
      return t.to;
    default:
      return null; // invalid (a dismissed false positive or a rejected report) is no step of the loop
  }
}

/**
 * Writes a `case_transitions` row for every step of every case that this node wrote, for the
 * statistics and the indicators (docs/telemetry.md). The deadline on a row is the limit that step
 * had to meet: the filing limit on `filed` (`file_within_s` from the report), the sign limit on
 * `signed` and the handling limit on `resolved` (the deadline the case carried just before the
 * step), and on `closed` the whole loop's (filing, signing and handling limits from the report).
 * A case filed by itself (the category's `auto_file`) gets its `filed` row with its dispatch.
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
    const opened = Date.parse(c.created_at);
    const sla = router.sla(c.category, c.department);
    const { standard_code = '', local_code = '' } = codes(c.category);
    const row = (to: CaseTransitionRow['to_state'], deadline: number | null, extra: Partial<CaseTransitionRow> = {}): void => void writer.write('case_transitions', {
      ts: Date.parse(t.at), case_id: c.id, ...(t.event_id ? { event_id: t.event_id } : {}), ...(t.from ? { from_state: t.from } : {}),
      to_state: to, category: c.category, district, street, cell: c.place.path[c.place.path.length - 1] ?? '',
      // A return is counted against the department that sent it back.
      department: to === 'reported' ? '' : to === 'returned' ? (t.department ?? c.department) : c.department,
      actor: t.actor, opened_at: opened, deadline, ...(t.reason ? { note: t.reason } : {}), standard_code, local_code, ...extra,
    });
    const fileBy = opened + sla.file_within_s * 1000;
    if (state === 'dispatched' && t.from === 'reported') row('filed', fileBy);
    row(state,
      state === 'filed' ? fileBy
        : state === 'signed' || state === 'resolved' ? (met ? Date.parse(met) : null)
          : state === 'closed' ? fileBy + (sla.sign_within_s + sla.resolve_within_s) * 1000 : null,
      state === 'reported' && c.repeat_of ? { repeat_of: c.repeat_of } : {});
  });
}
