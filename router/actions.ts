import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { City } from '../config/index.ts';
import type { Counter } from '../core/index.ts';
import { CONSOLE_ACTIONS, refusal, type CaseAction } from '../domain/index.ts';
import type { Activity } from './activity.ts';
import { deadlineAfter, levelUp, slaPolicy } from './deadlines.ts';
import { CaseActionError } from './errors.ts';
import type { RoutingTable } from './rules.ts';
import type { Entry } from './store.ts';
import type { CaseWriter } from './writer.ts';

/** An action a dispatch system or an operator asks for. */
export interface CaseActionRequest {
  readonly action: CaseAction;
  readonly actor: string;
  readonly reason?: string;
  readonly result?: string;
  readonly rating?: number;
  /** For acks: the department that sends it; it must hold the case. */
  readonly department?: string;
  /** For `dispatch`/`transfer` by an operator: where it goes. */
  readonly to_department?: string;
  /** The revision the caller saw; another one means someone changed the case first. */
  readonly revision?: number;
}

const ACK_ACTIONS: ReadonlySet<string> = new Set(['sign', 'progress', 'resolve', 'return']);

export interface CaseActionsDeps {
  readonly city: City;
  readonly table: RoutingTable;
  readonly nc: NatsConnection;
  readonly writer: CaseWriter;
  readonly activity: Activity;
  readonly acks: Counter<'outcome'> | null;
}

/**
 * Actions on a case: the departments' acks on `gw.dispatch.ack.<department>` (answered while this
 * instance is active) and the console's actions (on any node). Each reads the case fresh and
 * writes by compare-and-set, without retry: a lost race is the caller's `conflict`.
 */
export class CaseActions {
  readonly #city: City;
  readonly #table: RoutingTable;
  readonly #nc: NatsConnection;
  readonly #writer: CaseWriter;
  readonly #activity: Activity;
  readonly #acks: Counter<'outcome'> | null;
  #sub: Subscription | null = null;

  constructor(deps: CaseActionsDeps) {
    this.#city = deps.city;
    this.#table = deps.table;
    this.#nc = deps.nc;
    this.#writer = deps.writer;
    this.#activity = deps.activity;
    this.#acks = deps.acks;
  }

  /** Answers the departments' acks (queue group `gw-router`: one router answers each). */
  listen(): void {
    this.#sub = this.#nc.subscribe('gw.dispatch.ack.*', { queue: 'gw-router', callback: (err, msg) => { if (!err) void this.#onAck(msg); } });
  }

  unlisten(): void {
    this.#sub?.unsubscribe();
    this.#sub = null;
  }

  /**
   * Applies one action and returns the new record; throws `CaseActionError` (unknown case, wrong
   * department, illegal in the state, conflict) and changes nothing then.
   */
  act(id: string, req: CaseActionRequest): Promise<Entry> {
    const action = req.action;
    const city = this.#city;
    return this.#writer.mutate(id, (c) => {
      if (req.department !== undefined && c.department !== req.department) return new CaseActionError('wrong_department', `case ${id} is held by ${c.department}, not ${req.department}`, { case: id, department: c.department });
      const now = new Date();
      const base = { actor: req.actor, at: now, reason: req.reason };
      const policy = slaPolicy(city, c.category, c.department);
      switch (action) {
        case 'sign':
          return [{ ...base, action, deadline: { kind: 'resolve', at: deadlineAfter(now, policy.resolve_within_s) } }];
        case 'resolve':
          return [{ ...base, action, result: req.result, rating: req.rating }];
        case 'rework':
          // Sent back to the department that resolved it: it handles the case again, against a new limit.
          return [{ ...base, action, deadline: { kind: 'resolve', at: deadlineAfter(now, policy.resolve_within_s) } }];
        case 'return':
        case 'reopen': {
          // Re-route without the departments that returned it; the command centre when none is left.
          const excluded = new Set([...c.returned_by, c.department]);
          const to = req.to_department ?? (action === 'reopen' ? c.department : this.#table.route(c.category, c.place.path, now, excluded).departments[0]!);
          const dp = slaPolicy(city, c.category, to);
          const why = refusal(c.state, action);
          if (why) return new CaseActionError('illegal_transition', why, { case: id, state: c.state, action });
          return [{ ...base, action }, { actor: 'router', at: now, action: 'dispatch', department: to, reason: `re-routed after ${action}`, deadline: { kind: 'sign', at: deadlineAfter(now, dp.sign_within_s) } }];
        }
        case 'dispatch':
        case 'transfer': {
          const to = req.to_department ?? (action === 'transfer' ? city.supervisoryDepartment.id : c.department);
          if (!city.departments.has(to)) return new CaseActionError('bad_request', `unknown department ${to}`);
          const dp = slaPolicy(city, c.category, to);
          return [{ ...base, action, department: to, deadline: { kind: 'sign', at: deadlineAfter(now, dp.sign_within_s) } }];
        }
        case 'escalate': {
          const up = levelUp(city, c);
          if (!up) return new CaseActionError('illegal_transition', `case ${id} is already at the district level`, { case: id });
          return [{ ...base, action, level: up.level, area: up.area }];
        }
        case 'file':
        case 'progress':
        case 'close':
        case 'invalidate':
          return [{ ...base, action }];
        default:
          return new CaseActionError('bad_request', `unknown action ${JSON.stringify(action)}`);
      }
    }, { revision: req.revision, fresh: true, retries: 0 });
  }

  /** Console actions: the subset an operator may take. */
  consoleAction(id: string, req: CaseActionRequest): Promise<Entry> {
    if (!(CONSOLE_ACTIONS as readonly string[]).includes(req.action)) return Promise.reject(new CaseActionError('bad_request', `an operator cannot ${req.action}; use one of ${[...CONSOLE_ACTIONS].join(', ')}`));
    return this.act(id, req);
  }

  async #onAck(msg: Msg): Promise<void> {
    const department = msg.subject.slice('gw.dispatch.ack.'.length);
    const reply = (body: object) => { if (msg.reply) msg.respond(JSON.stringify(body)); };
    let req: { case_id?: unknown; action?: unknown; actor?: unknown; reason?: unknown; result?: unknown; rating?: unknown; revision?: unknown };
    try {
      req = JSON.parse(msg.string());
    } catch {
      this.#acks?.inc({ outcome: 'bad_request' });
      return reply({ status: 'error', code: 'bad_request', reason: 'not JSON' });
    }
    if (typeof req.case_id !== 'string' || typeof req.action !== 'string' || !ACK_ACTIONS.has(req.action)) {
      this.#acks?.inc({ outcome: 'bad_request' });
      return reply({ status: 'error', code: 'bad_request', reason: `needs case_id and action (one of ${[...ACK_ACTIONS].join(', ')})` });
    }
    this.#activity.begin();
    try {
      const e = await this.act(req.case_id, {
        action: req.action as CaseAction, department, actor: typeof req.actor === 'string' ? req.actor : `dept:${department}`,
        reason: typeof req.reason === 'string' ? req.reason : undefined, result: typeof req.result === 'string' ? req.result : undefined,
        rating: typeof req.rating === 'number' ? req.rating : undefined, revision: typeof req.revision === 'number' ? req.revision : undefined,
      });
      this.#acks?.inc({ outcome: 'applied' });
      reply({ status: 'applied', case_id: e.record.id, state: e.record.state, department: e.record.department, revision: e.revision, seq: e.record.seq });
    } catch (err) {
      const code = err instanceof CaseActionError ? err.reason : 'error';
      this.#acks?.inc({ outcome: code });
      reply({ status: 'error', code, reason: (err as Error).message });
    } finally {
      this.#activity.end();
    }
  }
}
