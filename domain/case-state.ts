/**
 * The case workflow's vocabulary: states, the light each shows, the actions and which states
 * each may start from. Pure data with no imports, so that the console's web app shares it.
 */

export const CASE_STATES = ['reported', 'filed', 'dispatched', 'signed', 'resolved', 'closed', 'reopened', 'returned', 'invalid', 'transferred'] as const;
export type CaseState = (typeof CASE_STATES)[number];
/** `reopened`, `returned`, `invalid` and `transferred` are side states of the main line. */
export const OPEN_STATES: ReadonlySet<CaseState> = new Set(['reported', 'filed', 'dispatched', 'signed', 'resolved', 'reopened', 'returned', 'transferred']);

/**
 * The light a case shows on every screen: blue (蓝) until a department signs, yellow (黄) while
 * it is handled, green (绿) once resolved and after verification; red for a case transferred to
 * the supervisory department after three missed deadlines; grey for a false report.
 */
export const CASE_LIGHTS = {
  reported: 'blue', filed: 'blue', dispatched: 'blue', reopened: 'blue', returned: 'blue', transferred: 'red',
  signed: 'yellow', resolved: 'green', closed: 'green', invalid: 'grey',
} as const satisfies Readonly<Record<CaseState, string>>;
export type CaseLight = (typeof CASE_LIGHTS)[CaseState];
export const caseLight = (state: CaseState): CaseLight => CASE_LIGHTS[state];

export const CASE_ACTIONS = ['report', 'add_report', 'file', 'dispatch', 'sign', 'progress', 'resolve', 'return', 'close', 'rework', 'reopen', 'invalidate', 'escalate', 'deadline_missed', 'transfer'] as const;
export type CaseAction = (typeof CASE_ACTIONS)[number];
/**
 * The actions the centre's staff take on a case (console and case API); the rest come from events,
 * departments and deadlines. The supervision centre (监督中心) files (`file`, 立案) or rejects
 * (`invalidate`) a reported case and verifies a resolved one: `close` (核查结案) or `rework`
 * (返工: back to the department, counted); the command centre (指挥中心) dispatches.
 */
export const CONSOLE_ACTIONS = ['file', 'dispatch', 'return', 'escalate', 'close', 'rework', 'reopen', 'invalidate', 'transfer'] as const satisfies readonly CaseAction[];
export type ConsoleAction = (typeof CONSOLE_ACTIONS)[number];
/** Actions that must say why. */
export const ACTIONS_NEEDING_REASON: ReadonlySet<CaseAction> = new Set(['return', 'invalidate', 'reopen', 'rework']);
export type EscalationLevel = 'cell' | 'street' | 'district';

/** Which states each action may start from (null: a new case), and where it leads (null: the state stays). */
export const CASE_RULES: Readonly<Record<CaseAction, { readonly from: readonly (CaseState | null)[]; readonly to: CaseState | null }>> = {
  report: { from: [null], to: 'reported' },
  add_report: { from: ['reported', 'filed', 'dispatched', 'signed', 'resolved', 'reopened', 'returned', 'transferred'], to: null },
  file: { from: ['reported'], to: 'filed' },
  dispatch: { from: ['reported', 'filed', 'returned', 'reopened'], to: 'dispatched' },
  sign: { from: ['dispatched', 'transferred'], to: 'signed' },
  progress: { from: ['signed'], to: null },
  resolve: { from: ['signed'], to: 'resolved' },
  return: { from: ['dispatched', 'signed', 'transferred'], to: 'returned' },
  close: { from: ['resolved'], to: 'closed' },
  rework: { from: ['resolved'], to: 'signed' },
  reopen: { from: ['resolved', 'closed', 'invalid'], to: 'reopened' },
  invalidate: { from: ['reported', 'filed', 'dispatched', 'signed', 'returned', 'reopened', 'transferred'], to: 'invalid' },
  escalate: { from: ['dispatched', 'signed', 'transferred', 'returned', 'reopened'], to: null },
  deadline_missed: { from: ['dispatched', 'signed', 'transferred'], to: null },
  transfer: { from: ['dispatched', 'signed', 'returned', 'reopened'], to: 'transferred' },
};

/** Why an action is refused in a state, or null when it is allowed. */
export function refusal(state: CaseState | null, action: CaseAction): string | null {
  const rule = CASE_RULES[action];
  if (!rule) return `unknown action ${JSON.stringify(action)}`;
  if (rule.from.includes(state)) return null;
  const allowed = rule.from.map((s) => s ?? '(new)').join(', ');
  return `cannot ${action} a case that is ${state ?? 'new'}; ${action} is allowed only from: ${allowed}`;
}
