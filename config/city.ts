import type { Static } from 'typebox';
import type { CityConfig } from './schema/city.ts';
import type { CameraT, ZoneT } from './schema/cameras.ts';
import type { TerminalT, CategoryT, DepartmentT } from './schema/people.ts';
import { CityGrid, type Area } from './grid.ts';
import type { Ring } from './geometry.ts';

export type CityConfigT = Static<typeof CityConfig>;

/** A validated, frozen city: the config with defaults applied, and indexes over it. */
export interface City {
  /** The file it came from, for messages; `<inline>` for configs built in code. */
  readonly file: string;
  readonly config: CityConfigT;
  readonly areas: ReadonlyMap<string, Area>;
  readonly grid: CityGrid;
  readonly cameras: ReadonlyMap<string, CameraT>;
  readonly terminals: ReadonlyMap<string, TerminalT>;
  readonly categories: ReadonlyMap<string, CategoryT>;
  /** A category by any code it has: its own code, then its standard code, then its local code. */
  readonly categoryByCode: ReadonlyMap<string, CategoryT>;
  readonly departments: ReadonlyMap<string, DepartmentT>;
  readonly supervisoryDepartment: DepartmentT;
}

export type { Area, CameraT, ZoneT, TerminalT, CategoryT, DepartmentT };

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Builds the indexes of a config that passed validation. */
export function buildCity(file: string, config: CityConfigT): City {
  const features = config.areas.features;
  const byId = new Map(features.map((f) => [f.properties.id, f]));
  const pathOf = (id: string): string[] => {
    const path: string[] = [];
    for (let cur: string | undefined = id; cur !== undefined; cur = byId.get(cur)?.properties.parent) path.unshift(cur);
    return path;
  };
  const areas = new Map<string, Area>();
  for (const f of features) {
    const [outer, ...holes] = f.geometry.coordinates as unknown as Ring[];
    const { id, name, name_en, level, parent } = f.properties;
    areas.set(id, Object.freeze({ id, name, name_en, level, parent, ring: outer!, holes, path: Object.freeze(pathOf(id)) }));
  }
  const cells = [...areas.values()].filter((a) => a.level === 'cell');
  deepFreeze(config);
  return Object.freeze({
    file,
    config,
    areas,
    grid: new CityGrid(cells),
    cameras: new Map(config.cameras.map((c) => [c.id, c])),
    terminals: new Map(config.terminals.map((t) => [t.id, t])),
    categories: new Map(config.categories.map((c) => [c.code, c])),
    categoryByCode: new Map([
      ...config.categories.flatMap((c) => (c.local_code ? [[c.local_code, c] as const] : [])),
      ...config.categories.flatMap((c) => (c.standard_code ? [[c.standard_code, c] as const] : [])),
      ...config.categories.map((c) => [c.code, c] as const),
    ]),
    departments: new Map(config.departments.map((d) => [d.id, d])),
    supervisoryDepartment: config.departments.find((d) => d.supervisory)!,
  });
}
