import type { Detection } from '../types.ts';
import { crowdGathering } from './crowd-gathering.ts';
import { mobileVendor } from './mobile-vendor.ts';
import { nonMotorParking } from './non-motor-parking.ts';
import { shopfrontSpillover } from './shopfront-spillover.ts';
import type { Violation } from './violation.ts';
import type { RuleOptions, ZoneRuleFactory, ZoneRuleState } from './zone-rule.ts';
import type { CompiledZone, Rule } from './zones.ts';

/** The rules that run one instance per zone; parking and fixed-stall vending have their own state. */
const FACTORIES: Partial<Record<Rule, ZoneRuleFactory>> = {
  non_motor_parking: nonMotorParking,
  shopfront_spillover: shopfrontSpillover,
  mobile_vendor: mobileVendor,
  crowd_gathering: crowdGathering,
};

export const isStreetOrderRule = (rule: Rule): boolean => rule in FACTORIES;

/**
 * One camera's street-order zones, each with its own rule. A zone whose settings are unchanged
 * when zones are set again keeps its state (its timers and open violations); a changed or removed
 * one starts afresh. Saved state waits for its zone to be set.
 */
export class StreetOrderRules {
  readonly #cameraId: string;
  readonly #opts: RuleOptions;
  #rules = new Map<string, { key: string; rule: ZoneRuleState }>();
  #pending: Record<string, unknown> = {};

  constructor(cameraId: string, opts: RuleOptions) {
    this.#cameraId = cameraId;
    this.#opts = opts;
  }

  setZones(zones: readonly CompiledZone[]): void {
    const next = new Map<string, { key: string; rule: ZoneRuleState }>();
    for (const z of zones) {
      const make = FACTORIES[z.rule];
      if (!make) continue;
      const key = JSON.stringify({ ...z, classes: [...z.classes], stallClasses: [...z.stallClasses] });
      const have = this.#rules.get(z.id);
      if (have && have.key === key) { next.set(z.id, have); continue; }
      const rule = make(this.#cameraId, z, this.#opts);
      if (z.id in this.#pending) { rule.restore(this.#pending[z.id]); delete this.#pending[z.id]; }
      next.set(z.id, { key, rule });
    }
    this.#rules = next;
  }

  observe(t: number, dets: readonly Detection[]): Violation[] {
    const out: Violation[] = [];
    for (const { rule } of this.#rules.values()) out.push(...rule.observe(t, dets));
    return out;
  }

  flush(): Violation[] {
    return [...this.#rules.values()].flatMap(({ rule }) => rule.flush());
  }

  /** See `ZoneRuleState.timing`. */
  timing(t: number): boolean {
    for (const { rule } of this.#rules.values()) if (rule.timing(t)) return true;
    return false;
  }

  active(): { zoneId: string; id: string; dwellS: number }[] {
    return [...this.#rules.values()].flatMap(({ rule }) => rule.active());
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.#pending };
    for (const [id, { rule }] of this.#rules) out[id] = rule.snapshot();
    return out;
  }

  restore(saved: Record<string, unknown> | undefined): void {
    if (!saved || typeof saved !== 'object') return;
    for (const [id, s] of Object.entries(saved)) {
      const have = this.#rules.get(id);
      if (have) have.rule.restore(s);
      else this.#pending[id] = s;
    }
  }
}
