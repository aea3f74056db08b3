import type { City, SlaPolicyT } from '../config/index.ts';
import type { Logger } from '../core/index.ts';
import { refusal, type ActionInput, type CaseRecord, type EscalationLevel } from '../domain/index.ts';
import type { Activity } from './activity.ts';
import type { CaseView } from './view.ts';
import type { CaseWriter } from './writer.ts';

/** The first SLA policy of the city that matches the category and department (the last one else). */
export function slaPolicy(city: City, category: string, department: string): SlaPolicyT {
  for (const p of city.config.sla) {
    if (p.categories && !p.categories.includes(category)) continue;
    if (p.departments && !p.departments.includes(department)) continue;
    return p;
  }
  return city.config.sla[city.config.sla.length - 1]!;
}

/** The area one level up from a case's current level, cell → street → district; null at the district. */
export function levelUp(city: City, c: CaseRecord): { level: EscalationLevel; area: string } | null {
  const path = c.place.path;
  const streetId = path.find((id) => city.areas.get(id)?.level === 'street');
  if (c.level === 'cell' && streetId) return { level: 'street', area: streetId };
  if ((c.level === 'cell' || c.level === 'street') && path[0]) return { level: 'district', area: path[0] };
  return null;
}

/** `at` plus `seconds`, as RFC 3339. */
export const deadlineAfter = (at: Date, seconds: number): string => new Date(at.getTime() + seconds * 1000).toISOString();

export interface DeadlinesDeps {
  readonly city: City;
  readonly view: CaseView;
  readonly writer: CaseWriter;
  readonly activity: Activity;
  readonly log: Logger;
}

/**
 * Missed deadlines: each is logged (`deadline_missed`), escalates the case one level up the area
 * hierarchy when its policy says so, notifies that level, and starts the same deadline again;
 * the third one transfers the case to the supervisory department. Deadlines live in the case
 * record, so one that passed while no router was active fires on the first tick.
 */
export class Deadlines {
  readonly #city: City;
  readonly #view: CaseView;
  readonly #writer: CaseWriter;
  readonly #activity: Activity;
  readonly #log: Logger;
  /** Cases whose missed deadline is being written. */
  readonly #firing = new Set<string>();

  constructor(deps: DeadlinesDeps) {
    this.#city = deps.city;
    this.#view = deps.view;
    this.#writer = deps.writer;
    this.#activity = deps.activity;
    this.#log = deps.log;
  }

  /** Fires every deadline due by `now` that is not firing already; a failed one is tried again on a later tick. */
  tick(now: number): void {
    for (const [id, at] of this.#view.deadlines) {
      if (at > now || this.#firing.has(id)) continue;
      this.#firing.add(id);
      this.#activity.begin();
      this.#miss(id)
        .catch((err) => this.#log.warn({ case: id, err: (err as Error).message }, 'deadline not processed; retrying'))
        .finally(() => {
          this.#firing.delete(id);
          this.#activity.end();
        });
    }
  }

  async #miss(id: string): Promise<void> {
    const city = this.#city;
    await this.#writer.mutate(id, (c) => {
      if (!c.deadline || Date.parse(c.deadline.at) > Date.now()) return [];
      const now = new Date();
      const kind = c.deadline.kind;
      const missed = c.missed + 1;
      const policy = slaPolicy(city, c.category, c.department);
      const limitS = kind === 'sign' ? policy.sign_within_s : policy.resolve_within_s;
      const up = policy.escalate ? levelUp(city, c) : null;
      const area = up?.area ?? (c.level === 'district' ? c.place.path[0] : c.place.path[c.place.path.length - 1]);
      const reason = `${c.department} missed the ${kind} deadline ${c.deadline.at} (${missed} missed)`;
      const steps: ActionInput[] = [{ action: 'deadline_missed', actor: 'router', at: now, reason, level: up?.level ?? c.level, area, deadline: { kind, at: deadlineAfter(now, limitS) } }];
      const transferredBefore = c.history.some((t) => t.action === 'transfer');
      const sup = city.supervisoryDepartment.id;
      if (missed >= 3 && !transferredBefore && c.department !== sup && !refusal(c.state, 'transfer')) {
        const sp = slaPolicy(city, c.category, sup);
        steps.push({ action: 'transfer', actor: 'router', at: now, department: sup, reason: `third missed deadline: transferred from ${c.department} to the supervisory department`, deadline: { kind: 'sign', at: deadlineAfter(now, sp.sign_within_s) } });
      }
      return steps;
    });
  }
}
