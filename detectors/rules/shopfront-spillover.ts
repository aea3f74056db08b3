import type { Detection } from '../types.ts';
import { bottomCentre } from './box.ts';
import { HeldClusters } from './clusters.ts';
import { watched, type ZoneRuleFactory } from './zone-rule.ts';

/**
 * Which side of a polyline a point lies on, as seen on the image (y grows downwards): +1 on the
 * right hand of someone walking the line from its first point to its last, -1 on the left, and
 * the distance to the line. The nearest segment decides; beyond the ends the end segments go on.
 */
export function sideOfLine(line: readonly (readonly [number, number])[], p: readonly [number, number]): { side: 1 | -1; distance: number } {
  let best = { side: 1 as 1 | -1, distance: Infinity };
  for (let i = 0; i + 1 < line.length; i++) {
    const [ax, ay] = line[i]!, [bx, by] = line[i + 1]!;
    const dx = bx - ax, dy = by - ay;
    const len2 = dx * dx + dy * dy || 1;
    let u = ((p[0] - ax) * dx + (p[1] - ay) * dy) / len2;
    if (i > 0) u = Math.max(0, u);
    if (i + 2 < line.length) u = Math.min(1, u);
    const distance = Math.hypot(p[0] - (ax + u * dx), p[1] - (ay + u * dy));
    if (distance < best.distance) best = { side: dx * (p[1] - ay) - dy * (p[0] - ax) >= 0 ? 1 : -1, distance };
  }
  return best;
}

/**
 * `shopfront_spillover` (CJ/T 214 0504 店外经营): tables, chairs, racks, umbrellas or goods
 * standing beyond the zone's `shop_line`, on the street side, for longer than `dwell_s`, with or
 * without people; one violation per cluster with its count. Objects on the shops' side of the
 * line (inside the shop's own space) are not counted.
 */
export const shopfrontSpillover: ZoneRuleFactory = (cameraId, zone, opts) => {
  const shops = zone.shopSide === 'right' ? 1 : -1;
  const beyond = (d: Detection): boolean => watched(zone, d) && sideOfLine(zone.shopLine, bottomCentre(d.box)).side !== shops;
  return new HeldClusters(cameraId, zone, opts, beyond);
};
