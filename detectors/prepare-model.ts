import { existsSync } from 'node:fs';
import { errorMessage, type Logger } from '../core/index.ts';
import type { ModelT } from '../config/index.ts';
import { ensureDefaultModel, ensureYolov5s } from './convert/index.ts';
import { detectorOptions, type DetectorOptions } from './model/detector.ts';
import { ensureInt8Model } from './quantize/index.ts';

/**
 * Makes a built-in model's files ready in the data folder before the pool loads them: NanoDet-g
 * converted, or YOLOv5s fetched and converted (`type: yolov5`), and the int8 twin placed from the
 * model cache or quantised. When the int8 files cannot be made, `options` is switched to fp32
 * (detecting with fp32 beats not detecting), logged; a wide-input file that is missing (an old
 * data folder without the source package) is dropped from `options.variants`, logged. A model
 * with a `path` is the operator's file and is left as it is.
 */
export async function prepareModel(model: ModelT, options: DetectorOptions, dataDir: string, log: Logger): Promise<void> {
  if (model.path !== undefined) return;
  const yolo = model.type === 'yolov5';
  if (yolo) ensureYolov5s(dataDir);
  else ensureDefaultModel(dataDir);
  if (model.precision === 'int8') {
    try {
      const from = await ensureInt8Model(dataDir, undefined, yolo ? 'yolov5s' : 'nanodet-g-416');
      if (from !== 'present') log.info({ model: options.name, from }, 'int8 model placed in the data folder');
    } catch (err) {
      log.error({ model: options.name, err: errorMessage(err) }, `int8 model cannot be made; detecting with fp32: run \`gridwatch model quantize${yolo ? ' --model yolov5s' : ''}\` to see why`);
      Object.assign(options, detectorOptions({ ...model, precision: 'fp32' }, dataDir, options.intraOpThreads));
    }
  }
  const missing = (options.variants ?? []).filter((v) => !existsSync(v));
  if (missing.length) {
    log.warn({ missing }, 'wide-input model missing; every frame runs on the square input: run `npm run setup`');
    options.variants = options.variants!.filter((v) => existsSync(v));
  }
}
