import type { Command } from 'commander';

const VIDEO = /\.(avi|mp4|mkv|mov|webm|ts|h264|h265|hevc|m4v)$/i;

function positive(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`expected a positive number, got ${JSON.stringify(v)}`);
  return n;
}

/** `gridwatch detect FILE`: runs the detector on an image or a video, prints JSON detections. */
export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description('run the detector on an image or a video and print JSON detections (one line per frame for videos)')
    .argument('<file>', 'image (JPEG, PNG…) or video')
    .option('--data-dir <dir>', 'data folder (holds the converted model)', process.env['GRIDWATCH_DATA_DIR'] ?? './data')
    .option('--model <file.onnx>', 'another ONNX model')
    .option('--type <type>', 'adapter: nanodet, yolov8 or yolov5', 'nanodet')
    .option('--score <s>', 'score threshold', positive, 0.3)
    .option('--fps <f>', 'frames per second to sample from a video', positive, 1)
    .option('--max-frames <n>', 'at most this many video frames', positive, 1000)
    .action(async (file: string, opts: { dataDir: string; model?: string; type: string; score: number; fps: number; maxFrames: number }) => {
      const { Detector, detectorOptions, readImage, readVideo } = await import('../../detectors/index.ts');
      if (!['nanodet', 'yolov8', 'yolov5'].includes(opts.type)) throw new Error(`unknown --type ${opts.type}`);
      const detector = await Detector.load(detectorOptions({ type: opts.type as 'nanodet', path: opts.model, score_threshold: opts.score, iou_threshold: 0.5 }, opts.dataDir));
      const model = { name: detector.name, version: detector.version };
      const line = (o: unknown): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
      try {
        if (VIDEO.test(file)) {
          for await (const f of readVideo(file, opts.fps, opts.maxFrames)) {
            const r = await detector.detect(f);
            line({ file, frame: f.index, time_ms: Math.round(f.timeMs), width: f.width, height: f.height, model, detections: r.detections.map(out) });
          }
        } else {
          const img = await readImage(file);
          const r = await detector.detect(img);
          line({ file, width: img.width, height: img.height, model, inference_ms: Math.round(r.inferenceMs), detections: r.detections.map(out) });
        }
      } finally {
        await detector.release();
      }
    });
}

function out(d: { label: string; classId: number; score: number; box: number[] }): Record<string, unknown> {
  return { class: d.label, class_id: d.classId, score: d.score, box: d.box };
}
