import type { Actor, ConsoleAction, ConsoleCase, Role } from './types.ts';

/**
 * What each role may do. Checked on every API route and on every websocket message, both ways.
 * A clerk sees and acts on only the cases dispatched to its own department.
 */
export type Permission =
  | 'alerts' | 'alerts.decide' | 'cases' | 'map' | 'terminals' | 'cameras' | 'cameras.edit' | 'stats' | 'tuning' | 'users'
  | `case.${ConsoleAction}`;

/** What every centre role sees and does: watch, decide on alerts, escalate. */
const CENTRE: Permission[] = ['alerts', 'alerts.decide', 'cases', 'map', 'terminals', 'cameras', 'stats', 'case.escalate'];
/** The single-desk centre of before the split: it dispatches as well. */
const OPERATOR: Permission[] = [...CENTRE, 'case.dispatch'];
/**
 * 监督中心: files or rejects reported cases, verifies resolved ones (close, or send back), reopens.
 * It does not dispatch: GB/T 30428 keeps dispatch (派遣) with the command centre.
 */
const SUPERVISOR: Permission[] = [...CENTRE, 'tuning', 'case.file', 'case.return', 'case.close', 'case.rework', 'case.reopen', 'case.invalidate', 'case.transfer'];
/** 指挥中心: dispatches filed cases, re-routes, escalates and transfers; neither files nor verifies. */
const COMMAND: Permission[] = [...OPERATOR, 'case.return', 'case.transfer'];

export const ROLE_PERMISSIONS: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  operator: new Set(OPERATOR),
  supervisor: new Set(SUPERVISOR),
  command: new Set(COMMAND),
  clerk: new Set<Permission>(['cases', 'map', 'case.return']),
  admin: new Set<Permission>([...SUPERVISOR, 'case.dispatch', 'cameras.edit', 'users']),
};

export function can(actor: Actor, p: Permission): boolean {
  return ROLE_PERMISSIONS[actor.role].has(p);
}

/** Whether the actor may see this case at all. */
export function canSeeCase(actor: Actor, c: Pick<ConsoleCase, 'departments'>): boolean {
  if (!can(actor, 'cases')) return false;
  if (actor.role !== 'clerk') return true;
  return actor.department !== undefined && c.departments.includes(actor.department);
}
