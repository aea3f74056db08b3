import { Type, type Static } from 'typebox';
import { Strict, Id, Names, HoursWindow } from './common.ts';

export const Terminal = Strict({
  id: Id,
  worker: Type.String({ minLength: 1, description: 'the grid worker or cleaner who carries it' }),
  role: Type.Enum(['grid_worker', 'cleaner', 'grid_leader'], { default: 'grid_worker' }),
  cell: Id,
  username: Type.Optional(Type.String({ minLength: 1, description: 'MQTT user name; the terminal id when absent' })),
  password: Type.String({ minLength: 8 }),
  owntracks: Type.Optional(Strict({ user: Type.String({ minLength: 1 }), device: Type.String({ minLength: 1 }) })),
});

/**
 * A category of event. `code` is gridwatch's id for it (events, routing, statistics); the codes
 * other systems speak ride along: `standard_code` from the national standard (CJ/T 214, e.g.
 * 0505 机动车乱停放) and `local_code` from the city's own list (e.g. 605).
 */
export const Category = Strict({
  code: Id,
  ...Names,
  parent: Type.Optional(Id),
  standard_code: Type.Optional(Type.String({ pattern: '^[0-9]{2,12}$', description: 'the class code of the national standard (CJ/T 214): major class then minor class, e.g. 0506' })),
  local_code: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$', description: 'the code of the city\'s own list, e.g. 606' })),
  auto_file: Type.Array(Type.Enum(['camera', 'terminal', 'citizen', 'hotline']), {
    default: ['camera', 'terminal', 'citizen', 'hotline'],
    description: 'sources whose cases are filed (立案) and dispatched at once; a case from another source waits in `reported` for the supervision centre to file or reject it',
  }),
});

export const Department = Strict({
  id: Id,
  ...Names,
  supervisory: Type.Boolean({ default: false, description: 'receives cases after the third missed deadline' }),
  command: Type.Boolean({ default: false, description: 'the command centre: the default route' }),
});

export const RouteRule = Strict({
  id: Id,
  categories: Type.Optional(Type.Array(Id, { minItems: 1, description: 'category codes; any when absent' })),
  areas: Type.Optional(Type.Array(Id, { minItems: 1, description: 'area ids at any level; any when absent' })),
  hours: Type.Optional(Type.Array(HoursWindow, { minItems: 1, description: 'local time windows; any time when absent' })),
  departments: Type.Array(Id, { minItems: 1 }),
  continue: Type.Boolean({ default: false, description: 'also try the next rules, for joint handling' }),
});

export const Routing = Strict({
  default_department: Id,
  merge_radius_m: Type.Number({ minimum: 0, default: 30 }),
  merge_window_s: Type.Number({ minimum: 0, default: 1800 }),
  repeat_window_s: Type.Number({ minimum: 0, default: 604_800, description: 'a case reported this long or less after a case of the same category within merge_radius_m was closed is a repeat case (重复案件)' }),
  keep_closed_days: Type.Number({ exclusiveMinimum: 0, default: 30, description: 'closed and invalid cases leave the router (memory and case bucket) this long after their last step; ClickHouse keeps their rows' }),
  rules: Type.Array(RouteRule, { default: [] }),
});

export const SlaPolicy = Strict({
  id: Id,
  categories: Type.Optional(Type.Array(Id, { minItems: 1 })),
  departments: Type.Optional(Type.Array(Id, { minItems: 1 })),
  file_within_s: Type.Number({ exclusiveMinimum: 0, default: 3600, description: 'the supervision centre files (立案) a reported case within this; on-time filing counts against it' }),
  sign_within_s: Type.Number({ exclusiveMinimum: 0 }),
  resolve_within_s: Type.Number({ exclusiveMinimum: 0 }),
  escalate: Type.Boolean({ default: true, description: 'a missed deadline goes one level up the area hierarchy' }),
});

export type TerminalT = Static<typeof Terminal>;
export type CategoryT = Static<typeof Category>;
export type DepartmentT = Static<typeof Department>;
export type RouteRuleT = Static<typeof RouteRule>;
export type RoutingT = Static<typeof Routing>;
export type SlaPolicyT = Static<typeof SlaPolicy>;
