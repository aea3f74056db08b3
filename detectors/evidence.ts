import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../core/index.ts';
import type { Detection } from './types.ts';
import type { CompiledZone } from './rules/zones.ts';
import type { Violation } from './rules/dwell.ts';

export interface EvidenceFrame {
  width: number;
  height: number;
  rgb: Uint8Array;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The SVG drawn over the annotated JPEG: the zone, every detection, the violation's box (all in
 * the camera's `image_size` pixels, `space`, stretched over the frame), and a caption.
 */
function overlay(w: number, h: number, v: Violation, zone: CompiledZone | undefined, detections: readonly Detection[], space: readonly [number, number]): string {
  const parts: string[] = [];
  if (zone) parts.push(`<polygon points="${zone.ring.map((p) => `${p[0]},${p[1]}`).join(' ')}" fill="rgba(255,200,0,0.18)" stroke="#ffc800" stroke-width="2"/>`);
  if (zone && zone.shopLine.length >= 2) parts.push(`<polyline points="${zone.shopLine.map((p) => `${p[0]},${p[1]}`).join(' ')}" fill="none" stroke="#ff8000" stroke-width="2" stroke-dasharray="6 4"/>`);
  for (const d of detections) {
    parts.push(`<rect x="${d.box[0]}" y="${d.box[1]}" width="${d.box[2]}" height="${d.box[3]}" fill="none" stroke="#00e0ff" stroke-width="1.5"/>`);
    parts.push(`<text x="${d.box[0] + 2}" y="${Math.max(10, d.box[1] - 3)}" font-family="sans-serif" font-size="11" fill="#00e0ff">${esc(d.label)} ${d.score.toFixed(2)}</text>`);
  }
  const [x, y, bw, bh] = v.box;
  parts.push(`<rect x="${x}" y="${y}" width="${bw}" height="${bh}" fill="none" stroke="#ff2020" stroke-width="3"/>`);
  parts.push(`<circle cx="${v.point[0]}" cy="${v.point[1]}" r="4" fill="#ff2020"/>`);
  const shapes = `<svg x="0" y="0" width="${w}" height="${h}" viewBox="0 0 ${space[0]} ${space[1]}" preserveAspectRatio="none">${parts.splice(0).join('')}</svg>`;
  parts.push(shapes);
  const caption = `${v.rule} · ${v.count !== null ? `${v.count} × ` : ''}${v.class} · ${v.dwellS}s · camera ${v.cameraId} · zone ${v.zoneId} · ${new Date(v.confirmedMs).toISOString()} · ${v.model.name} ${v.model.version}`;
  parts.push(`<rect x="0" y="${h - 20}" width="${w}" height="20" fill="rgba(0,0,0,0.6)"/>`);
  parts.push(`<text x="6" y="${h - 6}" font-family="sans-serif" font-size="12" fill="#ffffff">${esc(caption)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${parts.join('')}</svg>`;
}

/** The sidecar of an evidence JPEG: `<id>-<ms>-clean.jpg` and `-annotated.jpg` share `<id>-<ms>.json`. */
const sidecarOf = (jpg: string): string => jpg.replace(/-(?:clean|annotated)\.jpg$/, '.json');

interface Sidecar {
  violation: string;
  camera: string;
  capture_time: string;
  model: { name: string; version: string };
  clean: string;
  annotated: string;
  /** The drawing over the clean frame, made when the violation was confirmed. */
  overlay?: string;
}

const exifOf = (meta: { violation: string; camera: string; model: { name: string; version: string } } & Record<string, unknown>) => ({
  IFD0: { ImageDescription: JSON.stringify(meta), Software: `${meta.model.name} ${meta.model.version}`, Artist: `gridwatch camera ${meta.camera}` },
});

/**
 * Writes `data` to `file` under the data folder through a temporary file, so a reader never sees
 * half of it. Not flushed to disk: a node confirming a street of parked cars at once writes
 * hundreds, and a power cut loses at most the last seconds' pictures (the console then says the
 * evidence is missing), while flushing each added to every event's latency.
 */
async function putAtomic(dataDir: string, file: string, data: Buffer | string): Promise<void> {
  await writeFileAtomic(join(dataDir, file), data, { durable: false });
}

/**
 * Writes the evidence of a violation's frame (at the resolution it was decoded at) under
 * `<dataDir>/evidence/<camera>/<yyyy-mm-dd>/`: the clean JPEG, with capture time, camera and model
 * in the EXIF, and a JSON sidecar with the same facts and the overlay (zone, every detection, the
 * violation's box and a caption). The annotated JPEG is drawn from these two the first time it is
 * read (`annotatedEvidence`): drawing it took about 10 of the 14 ms of CPU a violation's evidence
 * cost, and a node confirming 50 parked cars in one second (after a restart, every car timed at
 * once) spent the detectors' CPU on pictures no operator had opened yet. Returns paths relative to the data
 * folder (the console serves them).
 */
export async function writeEvidence(dataDir: string, v: Violation, frame: EvidenceFrame, zone: CompiledZone | undefined, detections: readonly Detection[], space: readonly [number, number] = [frame.width, frame.height]): Promise<{ annotated: string; clean: string }> {
  const day = new Date(v.confirmedMs).toISOString().slice(0, 10);
  const rel = join('evidence', v.cameraId, day);
  await mkdir(join(dataDir, rel), { recursive: true });
  const base = `${v.id}-${v.confirmedMs}`;
  const meta = { violation: v.id, rule: v.rule, camera: v.cameraId, zone: v.zoneId, capture_time: new Date(v.confirmedMs).toISOString(), capture_time_ms: v.confirmedMs, model: v.model };
  const clean = join(rel, `${base}-clean.jpg`);
  const annotated = join(rel, `${base}-annotated.jpg`);
  const cleanJpg = await sharp(frame.rgb, { raw: { width: frame.width, height: frame.height, channels: 3 } }).withExif(exifOf(meta)).jpeg({ quality: 85 }).toBuffer();
  const sidecar: Sidecar & typeof meta = { ...meta, clean, annotated, overlay: overlay(frame.width, frame.height, v, zone, detections, space) };
  // The JPEG first: a sidecar names only files that are there.
  await putAtomic(dataDir, clean, cleanJpg);
  await putAtomic(dataDir, sidecarOf(clean), `${JSON.stringify(sidecar)}\n`);
  return { annotated, clean };
}

/**
 * The annotated JPEG at `rel` (relative to the data folder): read when it has been drawn, else
 * drawn now from the clean JPEG and the sidecar's overlay, kept for the next reader, and returned.
 * Null when there is no such evidence. Concurrent reads of one picture draw it once.
 */
export function annotatedEvidence(dataDir: string, rel: string): Promise<Buffer | null> {
  const key = join(dataDir, rel);
  let p = drawing.get(key);
  if (!p) {
    p = readFile(key).catch(() => draw(dataDir, rel)).finally(() => drawing.delete(key));
    drawing.set(key, p);
  }
  return p;
}

const drawing = new Map<string, Promise<Buffer | null>>();

async function draw(dataDir: string, rel: string): Promise<Buffer | null> {
  if (!rel.endsWith('-annotated.jpg')) return null;
  const side = await readFile(join(dataDir, sidecarOf(rel)), 'utf8').then((t) => JSON.parse(t) as Sidecar, () => null);
  if (!side?.overlay || typeof side.clean !== 'string') return null;
  const clean = await readFile(join(dataDir, side.clean)).catch(() => null);
  if (!clean) return null;
  const { overlay: _drawing, clean: _c, annotated: _a, ...meta } = side;
  const jpg = await sharp(clean).composite([{ input: Buffer.from(side.overlay), top: 0, left: 0 }]).withExif(exifOf(meta)).jpeg({ quality: 80 }).toBuffer();
  await putAtomic(dataDir, rel, jpg);
  return jpg;
}
