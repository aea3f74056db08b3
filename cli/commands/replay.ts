import type { Command } from 'commander';

function positive(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`expected a positive number, got ${JSON.stringify(v)}`);
  return n;
}

/** `gridwatch replay`: runs the dwell rules over recorded detections (MOTChallenge text). */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('run the zone rules over detections in MOTChallenge text (frame,id,left,top,width,height,conf[,class]) and print one JSON line per violation')
    .requiredOption('--detections <file>', 'MOTChallenge text detections; class is a COCO index')
    .requiredOption('--zones <file>', 'zones (YAML or JSON), as in the city config: a list, or {image_size, zones}')
    .requiredOption('--fps <f>', 'frame rate of the detections', positive)
    .option('--default-class <name>', 'COCO class of lines without a class column', 'car')
    .action(async (opts: { detections: string; zones: string; fps: number; defaultClass: string }) => {
      const { replay } = await import('../../detectors/index.ts');
      for (const v of replay({ detectionsFile: opts.detections, zonesFile: opts.zones, fps: opts.fps, defaultClass: opts.defaultClass })) {
        process.stdout.write(`${JSON.stringify(v)}\n`);
      }
    });
}
