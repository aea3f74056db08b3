import { randomUUID } from 'node:crypto';
import { haversineM, type City } from '../config/index.ts';
import { OPEN_STATES, refusal, type CaseAction, type CaseState } from '../domain/index.ts';
import { ConsoleActionRefusedError, ConsoleNotFoundError, type Actor, type CaseActions, type ConsoleAlert, type ConsoleCase, type ConsoleFeed } from '../console/index.ts';

/**
 * An in-process case desk: the reference implementation of `CaseActions` the console runs on
 * until the router (JetStream KV cases) is wired in its place. It follows the same workflow:
 * reported → dispatched → signed → resolved → closed, with return/reopen/invalid/transferred,
 * routes by the city's rules, sets SLA deadlines, groups alerts near an open case of the same
 * category, and reports every change to the feed.
 */
export class MemoryCaseDesk implements CaseActions {
  readonly cases = new Map<string, ConsoleCase>();
  readonly #city: City;
  readonly #feed: ConsoleFeed;
  readonly #now: () => number;

  constructor(city: City, feed: ConsoleFeed, now: () => number = Date.now) {
    this.#city = city;
    this.#feed = feed;
    this.#now = now;
  }

  /** The departments the routing rules name for this category and place. */
  route(category: string, path: readonly string[]): string[] {
    const out: string[] = [];
    for (const r of this.#city.config.routing.rules) {
      if (r.categories && !r.categories.includes(category)) continue;
      if (r.areas && !r.areas.some((a) => path.includes(a))) continue;
      for (const d of r.departments) if (!out.includes(d)) out.push(d);
      if (!r.continue) break;
    }
    return out.length ? out : [this.#city.config.routing.default_department];
  }

  #sla(category: string, departments: readonly string[]) {
    return this.#city.config.sla.find((p) => (!p.categories || p.categories.includes(category)) && (!p.departments || p.departments.some((d) => departments.includes(d)))) ?? this.#city.config.sla[this.#city.config.sla.length - 1]!;
  }

  #put(c: ConsoleCase): ConsoleCase {
    this.cases.set(c.id, c);
    this.#feed.caseChanged(c);
    return c;
  }

  #get(id: string): ConsoleCase {
    const c = this.cases.get(id);
    if (!c) throw new ConsoleNotFoundError('case', id);
    return c;
  }

  #step(c: ConsoleCase, state: CaseState, actor: string, note: string | undefined, patch: Partial<ConsoleCase> = {}): ConsoleCase {
    const ts = Math.max(this.#now(), c.updatedAt + 1);
    return this.#put({ ...c, ...patch, state, updatedAt: ts, timeline: [...c.timeline, note ? { ts, state, actor, note } : { ts, state, actor }] });
  }

  /** The router's own rules decide what may be done in each state. */
  #need(c: ConsoleCase, action: CaseAction): void {
    if (refusal(c.state, action)) throw new ConsoleActionRefusedError(action, c.id, c.state);
  }

  async confirmAlert(alert: ConsoleAlert, actor: Actor): Promise<ConsoleCase> {
    const radius = this.#city.config.routing.merge_radius_m;
    const windowMs = this.#city.config.routing.merge_window_s * 1000;
    for (const c of this.cases.values()) {
      if (OPEN_STATES.has(c.state) && c.category === alert.category && alert.ts - c.createdAt <= windowMs && haversineM(c.lat, c.lon, alert.lat, alert.lon) <= radius) {
        if (c.alerts.includes(alert.id)) return c;
        const ts = Math.max(this.#now(), c.updatedAt + 1);
        return this.#put({ ...c, alerts: [...c.alerts, alert.id], updatedAt: ts, timeline: [...c.timeline, { ts, state: c.state, actor: actor.username, note: `joined alert ${alert.id}` }] });
      }
    }
    const now = this.#now();
    const departments = this.route(alert.category, alert.path);
    const sla = this.#sla(alert.category, departments);
    const c: ConsoleCase = {
      id: `case-${randomUUID().slice(0, 8)}`, state: 'reported', category: alert.category, cell: alert.cell, path: alert.path, lat: alert.lat, lon: alert.lon,
      departments, createdAt: now, updatedAt: now, alerts: [alert.id], reporter: `camera ${alert.cameraId}`,
      signDeadline: now + sla.sign_within_s * 1000, resolveDeadline: now + sla.resolve_within_s * 1000,
      timeline: [{ ts: now, state: 'reported', actor: actor.username, note: `confirmed alert ${alert.id}` }],
    };
    return this.#put(c);
  }

  /** Opens a case from a terminal report (a grid worker's finding). */
  async report(input: { category: string; lat: number; lon: number; reporter: string }): Promise<ConsoleCase> {
    const hit = this.#city.grid.locate(input.lat, input.lon);
    const now = this.#now();
    const path = hit?.path ?? [];
    const departments = this.route(input.category, path);
    const sla = this.#sla(input.category, departments);
    return this.#put({
      id: `case-${randomUUID().slice(0, 8)}`, state: 'reported', category: input.category, cell: hit?.cell.id ?? '', path, lat: input.lat, lon: input.lon,
      departments, createdAt: now, updatedAt: now, alerts: [], reporter: input.reporter,
      signDeadline: now + sla.sign_within_s * 1000, resolveDeadline: now + sla.resolve_within_s * 1000,
      timeline: [{ ts: now, state: 'reported', actor: input.reporter }],
    });
  }

  async dispatch(caseId: string, actor: Actor, departments?: readonly string[]): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'dispatch');
    return this.#step(c, 'dispatched', actor.username, undefined, departments?.length ? { departments: [...departments] } : {});
  }

  async returnCase(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'return');
    return this.#step(c, 'returned', actor.username, reason);
  }

  async escalate(caseId: string, actor: Actor): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'escalate');
    const missed = (c.missedDeadlines ?? 0) + 1;
    if (missed >= 3) {
      const sup = this.#city.supervisoryDepartment.id;
      return this.#step(c, 'transferred', actor.username, `transferred to ${sup}`, { missedDeadlines: missed, departments: [sup] });
    }
    return this.#step(c, c.state, actor.username, `escalated (level ${missed})`, { missedDeadlines: missed });
  }

  async verifyClose(caseId: string, actor: Actor): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'close');
    return this.#step(c, 'closed', actor.username, undefined);
  }

  async file(caseId: string, actor: Actor): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'file');
    return this.#step(c, 'filed', actor.username, undefined);
  }

  async rework(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'rework');
    return this.#step(c, 'signed', actor.username, `rework: ${reason}`, { reworks: (c.reworks ?? 0) + 1 });
  }

  async reopen(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'reopen');
    return this.#step(c, 'reopened', actor.username, reason);
  }

  async markInvalid(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'invalidate');
    return this.#step(c, 'invalid', actor.username, reason);
  }

  async transfer(caseId: string, actor: Actor, department: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'transfer');
    return this.#step(c, 'transferred', actor.username, `transferred to ${department}`, { departments: [department] });
  }

  // The dispatch system's side: a department signs for and resolves a case.
  async sign(caseId: string, by: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'sign');
    return this.#step(c, 'signed', by, undefined);
  }

  async resolve(caseId: string, by: string, note?: string): Promise<ConsoleCase> {
    const c = this.#get(caseId);
    this.#need(c, 'resolve');
    return this.#step(c, 'resolved', by, note);
  }
}
