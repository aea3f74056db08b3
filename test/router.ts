/** Helpers shared by the router's tests and benchmark: a test city and events at known places. */
import { EVENT_SCHEMA, type GridEventT } from '../domain/index.ts';
import { validateCity, type City } from '../config/index.ts';
import { generateCity } from '../sim/index.ts';

export function routerTestCity(patch: (raw: Record<string, any>) => void = () => undefined): City {
  const raw = generateCity({ cameras: 2, terminals: 2 }) as Record<string, any>;
  patch(raw);
  return validateCity(raw);
}

/** The centre of a cell, [lat, lon]. */
export function cellCentre(city: City, cellId: string): [number, number] {
  const ring = city.areas.get(cellId)!.ring;
  let lat = 0, lon = 0;
  for (const [x, y] of ring.slice(0, -1)) (lon += x!, lat += y!);
  const n = ring.length - 1;
  return [lat / n, lon / n];
}

/** Moves a point by metres north and east. */
export function offset([lat, lon]: [number, number], northM: number, eastM: number): [number, number] {
  return [lat + northM / 111_320, lon + eastM / (111_320 * Math.cos((lat * Math.PI) / 180))];
}

let counter = 0;

export function testEvent(city: City, o: { id?: string; category?: string; at?: [number, number]; confirmedAt?: string; type?: GridEventT['type']; evidence?: string[] }): GridEventT {
  const [lat, lon] = o.at ?? cellCentre(city, 'G0101');
  const at = o.confirmedAt ?? new Date().toISOString();
  const category = o.category ?? 'illegal_parking';
  return {
    schema: EVENT_SCHEMA,
    id: o.id ?? `ev-${process.pid}-${Date.now().toString(36)}-${++counter}`,
    type: o.type ?? (category === 'road_vending' ? 'road_vending' : 'illegal_parking'),
    category,
    source: { kind: 'camera', id: 'cam-0001', zone: 'kerb' },
    first_seen: at,
    confirmed_at: at,
    place: { lat, lon, path: [...(city.grid.locate(lat, lon)?.path ?? [])], method: 'ground_point' },
    object: { class: 'car', box: [10, 20, 100, 60], dwell_s: 75, score: 0.8 },
    evidence: o.evidence ?? [`http://127.0.0.1/evidence/${counter}.jpg`],
    model: { name: 'nanodet-g-416', version: '1' },
  };
}
