import { Type } from 'typebox';
import { Strict } from './common.ts';
import { Areas } from './areas.ts';
import { Camera } from './cameras.ts';
import { Terminal, Category, Department, Routing, SlaPolicy } from './people.ts';
import { Services } from './services.ts';
import { Ingest, Detectors } from './pipeline.ts';
import { Demo } from './demo.ts';
import { Beacons } from './beacons.ts';

/** The whole city config: one YAML file. Defaults live here and nowhere else. */
export const CityConfig = Strict({
  version: Type.Literal(1),
  city: Strict({
    name: Type.String({ minLength: 1 }),
    timezone: Type.String({ default: 'Asia/Shanghai', description: 'IANA zone for routing time windows and daily rollups' }),
  }),
  services: Services,
  ingest: Ingest,
  detectors: Detectors,
  demo: Demo,
  beacons: Beacons,
  areas: Areas,
  cameras: Type.Array(Camera, { default: [] }),
  terminals: Type.Array(Terminal, { default: [] }),
  categories: Type.Array(Category, { minItems: 1 }),
  departments: Type.Array(Department, { minItems: 1 }),
  routing: Routing,
  sla: Type.Array(SlaPolicy, { minItems: 1, description: 'first match wins; the last should match everything' }),
});

