import { existsSync } from 'node:fs';
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
    .option('--zones <file>', 'zones (YAML or JSON), as in the city config: a list, or {image_size, homography, zones}')
    .option('--camera <file|id>', 'a camera block of the city config (YAML or JSON): its image_size, homography and zones; with --city, a camera id of that city')
    .option('--city <file>', 'a city config: each violation names the category it is filed under and its codes (standard_code, local_code)')
    .requiredOption('--fps <f>', 'frame rate of the detections', positive)
    .option('--every <n>', 'feed every Nth frame only, as a sampler taking fps/N samples a second would', positive, 1)
    .option('--default-class <name>', 'COCO class of lines without a class column', 'car')
    .action(async (opts: { detections: string; zones?: string; camera?: string; city?: string; fps: number; every: number; defaultClass: string }) => {
      const zonesFile = opts.camera ?? opts.zones;
      if (!zonesFile || (opts.camera && opts.zones)) throw new Error('replay needs one of --zones FILE or --camera FILE');
      if (!Number.isInteger(opts.every)) throw new Error(`--every must be a whole number; got ${opts.every}`);
      const { replay, replayDetections, readMot } = await import('../../detectors/index.ts');
      const { loadCity } = await import('../../config/index.ts');
      const city = opts.city ? loadCity(opts.city) : null;
      const codes = city
        ? (rule: string) => {
          const c = city.categories.get(rule);
          return { category: rule, ...(c?.standard_code ? { standard_code: c.standard_code } : {}), ...(c?.local_code ? { local_code: c.local_code } : {}) };
        }
        : undefined;
      const cam = city && opts.camera && !existsSync(opts.camera) ? city.cameras.get(opts.camera) : undefined;
      if (city && opts.camera && !existsSync(opts.camera) && !cam) throw new Error(`no camera ${JSON.stringify(opts.camera)} in ${opts.city}, and no such file`);
      const out = cam
        ? replayDetections(readMot(opts.detections, opts.defaultClass), { zones: [...cam.zones], imageSize: cam.image_size, homography: cam.homography }, opts.fps, opts.every, codes)
        : replay({ detectionsFile: opts.detections, zonesFile, fps: opts.fps, every: opts.every, defaultClass: opts.defaultClass, codes });
      for (const v of out) process.stdout.write(`${JSON.stringify(v)}\n`);
    });
}
