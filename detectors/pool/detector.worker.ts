import { parentPort } from 'node:worker_threads';
import { Detector, type DetectorOptions } from '../model/detector.ts';
import { RegionDetector } from '../regions/index.ts';
import { GridwatchError } from '../../core/index.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

// Handles the pool's messages only; the model lives in ../model.
const port = parentPort!;
/** Whole-frame samples run on `main`; samples with region crops on `region` (another model, or the same). */
let main: RegionDetector | undefined;
let region: RegionDetector | undefined;

/** Loads a model and warms each input shape on a frame of its own size. */
async function load(options: DetectorOptions, warmupRuns: number): Promise<Detector> {
  const detector = await Detector.load(options);
  for (const shape of detector.inputs) {
    const [width, height] = shape.split('x').map(Number) as [number, number];
    const warm = { width, height, rgb: new Uint8Array(width * height * 3).fill(114) };
    for (let i = 0; i < warmupRuns; i++) await detector.detect(warm);
  }
  return detector;
}

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

function transferable(rgb: Uint8Array): ArrayBuffer[] {
  return rgb.buffer instanceof ArrayBuffer ? [rgb.buffer] : [];
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init':
      void (async () => {
        try {
          const t0 = performance.now();
          const detector = await load(msg.options, msg.warmupRuns);
          const other = msg.regionOptions ? await load(msg.regionOptions, msg.warmupRuns) : undefined;
          main = new RegionDetector(detector);
          // Region cameras on the region model, with the whole-frame model's second opinion on crops that show nothing.
          region = other ? new RegionDetector(other, detector) : main;
          send({ type: 'ready', name: detector.name, version: detector.version, region: other && { name: other.name, version: other.version }, warmupMs: performance.now() - t0 });
        } catch (err) {
          send({ type: 'error', job: null, code: err instanceof GridwatchError ? err.code : 'DETECT_MODEL_LOAD', message: err instanceof Error ? err.message : String(err) });
        }
      })();
      break;
    case 'infer':
      void (async () => {
        try {
          const r = await (msg.regions ? region : main)!.detect({ width: msg.width, height: msg.height, rgb: msg.rgb }, msg.regions);
          const transfer = transferable(msg.rgb);
          if (r.grey) transfer.push(r.grey.data.buffer as ArrayBuffer);
          send({ type: 'result', job: msg.job, detections: r.detections, inferenceMs: r.inferenceMs, inferences: r.inferences, grey: r.grey, tilesVisited: r.tilesVisited, deferred: r.deferred, rgb: msg.rgb }, transfer);
        } catch (err) {
          send({ type: 'error', job: msg.job, code: err instanceof GridwatchError ? err.code : 'DETECT_INFERENCE', message: err instanceof Error ? err.message : String(err), rgb: msg.rgb }, transferable(msg.rgb));
        }
      })();
      break;
    case 'stall': {
      const until = Date.now() + msg.ms;
      while (Date.now() < until) { /* blocks on purpose */ }
      break;
    }
    case 'crash':
      process.exit(3);
  }
});
send({ type: 'boot' });
