import { Type } from 'typebox';
import { Strict, Id } from './common.ts';

/** Levels from the top. A city uses 4 (no `area`) or 5 of them, as Chancheng does. */
export const AREA_LEVELS = ['district', 'street', 'area', 'community', 'cell'] as const;
export type AreaLevel = (typeof AREA_LEVELS)[number];

const Position = Type.Array(Type.Number(), { minItems: 2, maxItems: 3, description: '[lon, lat] as GeoJSON has it' });

export const AreaFeature = Strict({
  type: Type.Literal('Feature'),
  id: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  properties: Strict({
    id: Id,
    name: Type.String({ minLength: 1 }),
    name_en: Type.Optional(Type.String()),
    level: Type.Enum([...AREA_LEVELS]),
    parent: Type.Optional(Id),
    households: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
  geometry: Strict({
    type: Type.Literal('Polygon'),
    coordinates: Type.Array(Type.Array(Position), { minItems: 1, description: 'rings: the outer one first, then holes' }),
  }),
});

/**
 * Areas are a GeoJSON FeatureCollection. In the YAML they are inline, or `{ path: file.geojson }`
 * beside the city config; the loader reads the file before validation.
 */
export const Areas = Strict({ type: Type.Literal('FeatureCollection'), features: Type.Array(AreaFeature) });

