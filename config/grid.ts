import Flatbush from 'flatbush';
import { bbox, pointInRing, type Ring } from './geometry.ts';
import type { AreaLevel } from './schema/areas.ts';

export interface Area {
  readonly id: string;
  readonly name: string;
  readonly name_en?: string;
  readonly level: AreaLevel;
  readonly parent?: string;
  /** Outer ring, [lon, lat] as GeoJSON has it. */
  readonly ring: Ring;
  readonly holes: readonly Ring[];
  /** Ids from the district down to this area, itself included. */
  readonly path: readonly string[];
}

export interface CellHit {
  readonly cell: Area;
  readonly path: readonly string[];
}

/**
 * Finds the grid cell under a point. A Flatbush index narrows thousands of cells to the few whose
 * boxes hold the point; an exact point-in-polygon test decides among them.
 */
export class CityGrid {
  readonly #cells: readonly Area[];
  readonly #index: Flatbush | null;

  constructor(cells: readonly Area[]) {
    this.#cells = cells;
    if (cells.length === 0) {
      this.#index = null;
      return;
    }
    const index = new Flatbush(cells.length);
    for (const c of cells) {
      const [x0, y0, x1, y1] = bbox(c.ring);
      index.add(x0, y0, x1, y1);
    }
    index.finish();
    this.#index = index;
  }

  get size(): number {
    return this.#cells.length;
  }

  /** The cell that holds (lat, lon), or null when the point is in none. */
  locate(lat: number, lon: number): CellHit | null {
    if (!this.#index) return null;
    const hits = this.#index.search(lon, lat, lon, lat, undefined);
    for (const i of hits) {
      const cell = this.#cells[i]!;
      if (!pointInRing(lon, lat, cell.ring)) continue;
      if (cell.holes.some((h) => pointInRing(lon, lat, h))) continue;
      return { cell, path: cell.path };
    }
    return null;
  }

  /** The bounding box of every cell, [minLon, minLat, maxLon, maxLat]. */
  bounds(): [number, number, number, number] {
    let b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const c of this.#cells) {
      const [x0, y0, x1, y1] = bbox(c.ring);
      b = [Math.min(b[0], x0), Math.min(b[1], y0), Math.max(b[2], x1), Math.max(b[3], y1)];
    }
    return b;
  }
}
