import type { City, RouteRuleT } from '../config/index.ts';

export interface RuleMatch {
  readonly rule: string;
  readonly departments: readonly string[];
  /** Why it matched, in words: one clause per condition. */
  readonly why: string;
}

export interface RouteDecision {
  readonly departments: readonly string[];
  readonly matches: readonly RuleMatch[];
  /** True when no rule matched and the case goes to `routing.default_department`. */
  readonly isDefault: boolean;
  /** Minutes after local midnight in the city timezone, as used for the hours windows. */
  readonly localTime: string;
}

/** `HH:MM-HH:MM` → [start, end) in minutes; a window may wrap past midnight. */
function parseWindow(w: string): [number, number] {
  const [a, b] = w.split('-') as [string, string];
  const m = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  return [m(a), m(b)];
}

function inWindow(minute: number, [start, end]: [number, number]): boolean {
  return start <= end ? minute >= start && minute < end : minute >= start || minute < end;
}

interface CompiledRule {
  readonly rule: RouteRuleT;
  readonly categories: ReadonlySet<string> | null;
  readonly areas: ReadonlySet<string> | null;
  readonly windows: readonly [number, number][] | null;
}

/**
 * The responsibility list: ordered rules on category, area (any level of the path) and local
 * time. The first match wins unless it says `continue`, which adds the next matches for joint
 * handling. No match goes to the default department (the command centre).
 */
export class RoutingTable {
  readonly #rules: readonly CompiledRule[];
  readonly #default: string;
  readonly #clock: Intl.DateTimeFormat;

  constructor(city: City) {
    const r = city.config.routing;
    this.#default = r.default_department;
    this.#rules = r.rules.map((rule) => ({
      rule,
      categories: rule.categories ? new Set(rule.categories) : null,
      areas: rule.areas ? new Set(rule.areas) : null,
      windows: rule.hours ? rule.hours.map(parseWindow) : null,
    }));
    this.#clock = new Intl.DateTimeFormat('en-GB', { timeZone: city.config.city.timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  /** Minutes after local midnight in the city's timezone. */
  localMinute(at: Date): number {
    const parts = this.#clock.formatToParts(at);
    const h = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
    const m = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
    return h * 60 + m;
  }

  route(category: string, path: readonly string[], at: Date, exclude: ReadonlySet<string> = new Set()): RouteDecision {
    const minute = this.localMinute(at);
    const localTime = `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
    const matches: RuleMatch[] = [];
    for (const c of this.#rules) {
      if (c.categories && !c.categories.has(category)) continue;
      const area = c.areas ? path.find((a) => c.areas!.has(a)) : undefined;
      if (c.areas && area === undefined) continue;
      const window = c.windows ? c.rule.hours![c.windows.findIndex((w) => inWindow(minute, w))] : undefined;
      if (c.windows && window === undefined) continue;
      const departments = c.rule.departments.filter((d) => !exclude.has(d));
      if (departments.length === 0) continue;
      const why = [
        c.categories ? `category ${category} is in [${[...c.categories].join(', ')}]` : 'any category',
        c.areas ? `area ${area} is on the path ${path.join('/')}` : 'any area',
        c.windows ? `local time ${localTime} is in ${window}` : 'any time',
      ].join('; ');
      matches.push({ rule: c.rule.id, departments, why });
      if (!c.rule.continue) break;
    }
    if (matches.length === 0) return { departments: [this.#default], matches, isDefault: true, localTime };
    const departments = [...new Set(matches.flatMap((m) => m.departments))];
    return { departments, matches, isDefault: false, localTime };
  }
}
