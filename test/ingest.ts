/** Helpers shared by the ingest tests: the data folder, a test camera and fast ingest settings. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CameraT, IngestT } from '../config/index.ts';

/** The repository's data folder: the simulator's encoded clips are cached there across runs. */
export const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'data');

export function testCamera(id: string, url: string, extra: Partial<CameraT> = {}): CameraT {
  return { id, type: 'rtsp', url, lat: 43.87, lon: 125.3, heading_deg: 0, enabled: true, zones: [], detect: { regions: 'auto', max_crops: 8, min_object_px: 12, crop_vehicle_min_score: 0.5, second_opinion: true }, ...extra };
}

/** Fast settings so that faults show within seconds. */
export const FAST_INGEST: IngestT = {
  sample_period_s: 1, max_connects_in_flight: 8, stall_timeout_s: 2, backoff_initial_ms: 300, backoff_max_ms: 2000,
  frame_width: 320, frame_height: 180, max_frame_width: 1920, max_frame_height: 1080, decode_budget_per_s: 50, decoders_per_codec: 1, connect_timeout_ms: 1500, gate_before_decode: true,
};
