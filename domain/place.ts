import type { City, CameraT } from '../config/index.ts';

export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
  /** Area ids from the district down to the cell; empty when the point is outside the grid. */
  readonly path: readonly string[];
  readonly method: 'homography' | 'ground_point' | 'camera';
}

/** Solves the 8 unknowns of a projective map from 4 point pairs (Gaussian elimination, partial pivoting). */
export function solveHomography(src: readonly (readonly [number, number])[], dst: readonly (readonly [number, number])[]): number[] {
  const a: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = src[i]!;
    const [u, v] = dst[i]!;
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let c = 0; c < 8; c++) {
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (Math.abs(a[p]![c]!) < 1e-12) throw new Error('degenerate homography: three of the four points are on one line');
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = a[r]![c]! / a[c]![c]!;
      for (let k = c; k < 9; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  const h = a.map((row, i) => row[8]! / row[i]!);
  h.push(1);
  return h;
}

export function applyHomography(h: readonly number[], x: number, y: number): [number, number] {
  const w = h[6]! * x + h[7]! * y + h[8]!;
  return [(h[0]! * x + h[1]! * y + h[2]!) / w, (h[3]! * x + h[4]! * y + h[5]!) / w];
}

const cache = new WeakMap<CameraT, number[]>();

/**
 * Maps an image point of a camera to lat/lon and a grid cell. The camera's 4-point homography
 * places each point exactly; without one, the zone's ground point stands for the whole zone, and
 * without that, the camera's own position. The cell comes from the city grid, or the camera's cell.
 */
export function geolocateCameraPoint(city: City, cameraId: string, zoneId: string | undefined, point: readonly [number, number]): GeoPoint | null {
  const cam = city.cameras.get(cameraId);
  if (!cam) return null;
  let lat = cam.lat, lon = cam.lon;
  let method: GeoPoint['method'] = 'camera';
  const zone = zoneId === undefined ? undefined : cam.zones.find((z) => z.id === zoneId);
  if (cam.homography) {
    let h = cache.get(cam);
    if (!h) cache.set(cam, (h = solveHomography(cam.homography.image, cam.homography.ground)));
    [lat, lon] = applyHomography(h, point[0], point[1]);
    method = 'homography';
  } else if (zone?.ground_point) {
    [lat, lon] = zone.ground_point;
    method = 'ground_point';
  }
  const hit = city.grid.locate(lat, lon);
  const path = hit ? hit.path : cam.cell ? (city.areas.get(cam.cell)?.path ?? []) : [];
  return { lat, lon, path, method };
}

/** The grid path of a lat/lon, empty outside the grid. */
export function locatePath(city: City, lat: number, lon: number): readonly string[] {
  return city.grid.locate(lat, lon)?.path ?? [];
}
