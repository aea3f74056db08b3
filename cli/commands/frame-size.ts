import { InvalidArgumentError } from 'commander';

export interface FrameSize {
  width: number;
  height: number;
}

/**
 * Parses a `WxH` option (`--size 640x360`, `--input 416x256`) for commander: two to four digits
 * each side, so that a typo or a unit is refused as a usage error naming the option, not turned
 * into NaN pixels.
 */
export function frameSize(text: string): FrameSize {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(text);
  if (!m) throw new InvalidArgumentError('expected WxH, e.g. 640x360');
  return { width: Number(m[1]), height: Number(m[2]) };
}
