/**
 * Cell lookup: Flatbush index + point-in-polygon (CityGrid.locate) against a linear scan of every
 * cell's polygon, on a Chengdu-sized grid (11,337 cells). Prints one JSON object as its last line.
 *   npx tsx benchmarks/grid-lookup.bench.ts [--cells 11337] [--lookups 200000]
 */
import { parseArgs } from 'node:util';
import { CityGrid, pointInRing, type Area } from '../config/index.ts';

const { values } = parseArgs({ options: { cells: { type: 'string', default: '11337' }, lookups: { type: 'string', default: '200000' } } });
const cellCount = Number(values.cells), lookups = Number(values.lookups);

// Set-up: a square-ish grid of 250 m cells with slightly irregular (6-point) outlines.
const side = Math.ceil(Math.sqrt(cellCount));
const d = 0.0025;
const cells: Area[] = [];
for (let i = 0; i < cellCount; i++) {
  const x = 104 + (i % side) * d, y = 30.5 + Math.floor(i / side) * d;
  const ring = [[x, y], [x + d / 2, y], [x + d, y], [x + d, y + d], [x + d / 2, y + d], [x, y + d], [x, y]] as const;
  cells.push({ id: `c${i}`, name: `c${i}`, level: 'cell', ring, holes: [], path: [`c${i}`] });
}
const grid = new CityGrid(cells);
const points = Float64Array.from({ length: lookups * 2 }, (_, k) => (k % 2 === 0 ? 30.5 + Math.random() * side * d : 104 + Math.random() * side * d));

function measure(fn: (lat: number, lon: number) => unknown, n: number): { per_s: number; us_per_lookup: number; found: number } {
  let found = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (fn(points[2 * i]!, points[2 * i + 1]!)) found++;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { per_s: n / s, us_per_lookup: (s * 1e6) / n, found };
}

const linear = (lat: number, lon: number) => cells.find((c) => pointInRing(lon, lat, c.ring));
measure((a, b) => grid.locate(a, b), 10_000); // warm-up
const indexed = measure((a, b) => grid.locate(a, b), lookups);
const baseline = measure(linear, Math.max(1000, Math.floor(lookups / 100)));
console.log(JSON.stringify({
  cells: cellCount,
  lookups,
  lookups_per_s: Math.round(indexed.per_s),
  us_per_lookup: Number(indexed.us_per_lookup.toFixed(3)),
  linear_scan_us_per_lookup: Number(baseline.us_per_lookup.toFixed(1)),
  speedup_vs_linear: Number((baseline.us_per_lookup / indexed.us_per_lookup).toFixed(1)),
  hit_pct: Number(((100 * indexed.found) / lookups).toFixed(1)),
}));
