import sharp from 'sharp';
import type { City } from '../config/index.ts';
import type { ConsoleAlert } from '../console/index.ts';

/**
 * Real JPEG frames for the console's demo and tests: a street scene (road, kerb, a car or a
 * stall) drawn as SVG and encoded by sharp. `variant` moves the objects so frames differ.
 */
export async function sceneJpeg(opts: { width?: number; height?: number; variant?: number; kind?: 'car' | 'stall'; label?: string } = {}): Promise<Uint8Array> {
  const w = opts.width ?? 640, h = opts.height ?? 360, v = opts.variant ?? 0;
  const x = 60 + ((v * 97) % (w - 220));
  const object = opts.kind === 'stall'
    ? `<rect x="${x}" y="220" width="120" height="60" fill="#b5651d"/><polygon points="${x - 10},220 ${x + 60},170 ${x + 130},220" fill="#e74c3c"/><circle cx="${x + 150}" cy="230" r="14" fill="#f1c27d"/><rect x="${x + 140}" y="244" width="20" height="50" fill="#34495e"/>`
    : `<rect x="${x}" y="90" width="170" height="60" rx="12" fill="#c0392b"/><rect x="${x + 30}" y="65" width="100" height="35" rx="8" fill="#922b21"/><circle cx="${x + 35}" cy="150" r="16" fill="#111"/><circle cx="${x + 135}" cy="150" r="16" fill="#111"/><rect x="${x - 6}" y="60" width="182" height="110" fill="none" stroke="#ffdd00" stroke-width="4"/>`;
  const label = (opts.label ?? '').replace(/[^A-Za-z0-9 :_.-]/g, '');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
    <rect width="${w}" height="${h}" fill="#7f8c8d"/><rect y="0" width="${w}" height="20" fill="#5d6d7e"/>
    <rect y="170" width="${w}" height="${h - 170}" fill="#bdc3c7"/><rect y="166" width="${w}" height="8" fill="#ecf0f1"/>
    ${Array.from({ length: 8 }, (_, i) => `<rect x="${i * 90 + 10}" y="40" width="40" height="6" fill="#f4f6f6"/>`).join('')}
    ${object}
    <rect x="0" y="${h - 28}" width="${w}" height="28" fill="#000" fill-opacity="0.5"/>
    <text x="10" y="${h - 9}" font-family="DejaVu Sans, sans-serif" font-size="16" fill="#fff">${label}</text>
  </svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).jpeg({ quality: 70 }).toBuffer());
}

/** An alert from one of the city's cameras and zones, placed where that camera looks. */
export function cameraAlert(city: City, cameraId: string, zoneId: string, n: number, ts = Date.now()): ConsoleAlert {
  const cam = city.cameras.get(cameraId);
  if (!cam) throw new RangeError(`no camera ${cameraId}`);
  const zone = cam.zones.find((z) => z.id === zoneId) ?? cam.zones[0];
  const [lat, lon] = zone?.ground_point ?? [cam.lat, cam.lon];
  const hit = city.grid.locate(lat, lon) ?? city.grid.locate(cam.lat, cam.lon);
  const parking = (zone?.type ?? 'no_parking') === 'no_parking';
  return {
    id: `evt-${cameraId}-${zone?.id ?? 'z'}-${n}`, cameraId, zoneId: zone?.id ?? 'z', category: parking ? 'illegal_parking' : 'road_vending',
    lat, lon, cell: hit?.cell.id ?? cam.cell ?? '', path: hit?.path ?? [], className: parking ? 'car' : 'person',
    score: 0.72 + ((n * 7) % 25) / 100, dwellS: (zone?.dwell_s ?? 60) + (n % 30), box: [60, 60, 180, 110], ts, model: 'nanodet-g-416',
  };
}
