import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyframeDecoder } from './decode.ts';
import { DecoderPool } from './decoder-pool.ts';
import { KEYFRAME_INPUT_OPTIONS, keyframeOutputOptions } from './decode-args.ts';
import type { VideoCodec } from './rtsp/depacketizer.ts';
import { DEFAULT_CLIP, loadClip, prepareClip } from '../sim/index.ts';
import { DATA_DIR } from '../test/ingest.ts';

/** One Annex-B keyframe with its parameter sets, as a camera sends it. */
function keyframe(codec: VideoCodec, colour: string, bFrames: boolean): Uint8Array {
  const encoder = codec === 'h264'
    ? ['-c:v', 'libx264', '-profile:v', 'main', '-bf', bFrames ? '3' : '0', '-x264-params', 'repeat-headers=1', '-f', 'h264']
    : ['-c:v', 'libx265', '-x265-params', `bframes=${bFrames ? 4 : 0}:repeat-headers=1:log-level=error`, '-f', 'hevc'];
  return new Uint8Array(execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', `color=c=${colour}:size=320x180:rate=15`, '-frames:v', '1', ...encoder, 'pipe:1']));
}

/** The first `count` keyframes of the street clip, each in Annex-B with its parameter sets once, as a camera sends it. */
async function streetKeyframes(count: number): Promise<Buffer[]> {
  const clip = loadClip(await prepareClip(DATA_DIR, DEFAULT_CLIP), 'h264', DEFAULT_CLIP.fps, DEFAULT_CLIP);
  const annexB = (nals: Uint8Array[]) => Buffer.concat(nals.flatMap((n) => [Buffer.of(0, 0, 0, 1), Buffer.from(n)]));
  const isPs = (n: Uint8Array) => (n[0]! & 0x1f) === 7 || (n[0]! & 0x1f) === 8;
  return clip.frames.filter((f) => f.keyframe).slice(0, count).map((f) => annexB([...clip.parameterSets, ...f.nals.filter((n) => !isPs(n))]));
}

type Rgb = [number, number, number];
const COLOURS: Record<string, Rgb> = { red: [255, 0, 0], lime: [0, 255, 0], blue: [0, 0, 255] };

/** The colour nearest the frame's centre pixel. */
function colourOf(rgb: Uint8Array, width: number, height: number): string {
  const at = ((height >> 1) * width + (width >> 1)) * 3;
  const px = [rgb[at]!, rgb[at + 1]!, rgb[at + 2]!];
  const distance = (c: Rgb) => c.reduce((sum, v, i) => sum + Math.abs(v - px[i]!), 0);
  return Object.keys(COLOURS).sort((a, b) => distance(COLOURS[a]!) - distance(COLOURS[b]!))[0]!;
}

describe('keyframe decoder', () => {
  it('hands back the street clip\'s keyframes byte for byte as ffmpeg itself decodes them', async () => {
    const keyframes = await streetKeyframes(10);
    const size = { width: 416, height: 234 };
    const frameBytes = size.width * size.height * 3;
    // ffmpeg on its own, with the same options and filter, over all the keyframes in one go.
    const reference = execFileSync('ffmpeg', ['-loglevel', 'fatal', '-f', 'h264', ...KEYFRAME_INPUT_OPTIONS, '-i', 'pipe:0', ...keyframeOutputOptions(size.width, size.height), '-f', 'rawvideo', 'pipe:1'],
      { input: Buffer.concat(keyframes), maxBuffer: 64 * 2 ** 20 });
    expect(reference.length).toBe(keyframes.length * frameBytes);
    const decoder = new KeyframeDecoder('h264', size);
    try {
      const frames = await Promise.all(keyframes.map((k) => decoder.decode(k)));
      const same = frames.map((f, i) => Buffer.from(f).equals(reference.subarray(i * frameBytes, (i + 1) * frameBytes)));
      expect(same).toEqual(keyframes.map(() => true));
      // Consecutive keyframes 2 s apart in a busy street differ: a stale or shifted frame would show.
      expect(Buffer.from(frames[0]!).equals(Buffer.from(frames[1]!))).toBe(false);
    } finally {
      decoder.stop();
    }
  });
});

describe('keyframe decoder on a busy main thread', () => {
  it('keeps decoding while the main thread is blocked: the frames are whole when it is free again', async () => {
    const keyframes = await streetKeyframes(8);
    // Full-size frames (640×360, 691 KB): each takes several socket buffers to come out.
    const decoder = new KeyframeDecoder('h264', { width: DEFAULT_CLIP.width, height: DEFAULT_CLIP.height });
    try {
      await decoder.decode(keyframes[0]!); // started and connected
      let done = 0;
      const all = Promise.all(keyframes.map((k) => decoder.decode(k, 5000).then((f) => { done++; return f; })));
      // The main thread busy for 1.5 s (a burst of work on a loaded node): ffmpeg needs about 50
      // ms for the eight. Read on the main thread, a frame could not get past the first socket
      // buffer meanwhile, and none would be whole after one turn of the event loop.
      const until = Date.now() + 1500;
      while (Date.now() < until) { /* busy */ }
      await new Promise((r) => setImmediate(r));
      expect(done).toBe(keyframes.length);
      expect((await all).every((f) => f.length === DEFAULT_CLIP.width * DEFAULT_CLIP.height * 3)).toBe(true);
    } finally {
      decoder.stop();
    }
  });
});

describe('keyframe decoder in a process of its own', () => {
  it('lets the process exit once its decoders are stopped, warmed up or not: the I/O thread does not hold it', () => {
    const script = `
      import { KeyframeDecoder, warmDecoders } from ${JSON.stringify(new URL('./decode.ts', import.meta.url).href)};
      warmDecoders(); // as CameraIngest.start() does
      import { execFileSync } from 'node:child_process';
      const key = new Uint8Array(execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=red:size=320x180', '-frames:v', '1', '-c:v', 'libx264', '-bf', '0', '-f', 'h264', 'pipe:1']));
      const d = new KeyframeDecoder('h264', { width: 160, height: 90 });
      const rgb = await d.decode(key);
      d.stop();
      console.log('decoded', rgb.length);`;
    const file = join(mkdtempSync(join(tmpdir(), 'gw-decoder-exit-')), 'decode-once.mts');
    writeFileSync(file, script);
    // execFileSync's timeout kills a process that hangs on (it would otherwise never end).
    const out = execFileSync(process.execPath, ['--import', 'tsx', file], { timeout: 30_000, encoding: 'utf8' });
    rmSync(dirname(file), { recursive: true, force: true });
    expect(out.trim()).toBe(`decoded ${160 * 90 * 3}`);
  });
});

describe('keyframe decoder pool', () => {
  it('answers each keyframe with its own frame, and sends the ones about to be late to an idle express decoder', async () => {
    const pool = new DecoderPool({ width: 160, height: 90, perCodec: 1 });
    try {
      const frames = ['red', 'lime', 'blue', 'red'].map((c) => keyframe('h264', c, false));
      // Plenty of time: the regular decoder.
      const relaxed = await Promise.all(frames.map((k) => pool.decode('h264', k, 1000)));
      // About to be late: the express decoder.
      const urgent = await pool.decode('h264', frames[2]!, 0);
      for (const rgb of [...relaxed, urgent]) expect(rgb.length).toBe(160 * 90 * 3);
      expect(relaxed.map((rgb) => colourOf(rgb, 160, 90))).toEqual(['red', 'lime', 'blue', 'red']);
      expect(colourOf(urgent, 160, 90)).toBe('blue');
      const status = pool.status();
      // No B-frames: each frame comes out on its own (a push is spent only if ffmpeg starts slowly).
      expect(status.map((d) => ({ express: d.express, decoded: d.decoded, holds: d.holdsFrames }))).toEqual([
        { express: false, decoded: 4, holds: false },
        { express: true, decoded: 1, holds: false },
      ]);
    } finally {
      pool.stop();
    }
  });

  it('does not take a slow decode for a held frame: no pushes while ffmpeg is busy', async () => {
    // A 4K lossless keyframe of noise: over half a second of decoding each.
    const heavy = new Uint8Array(execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', "nullsrc=s=3840x2160,geq=lum='random(1)*255':cb=128:cr=128", '-frames:v', '1',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-bf', '0', '-x264-params', 'repeat-headers=1', '-f', 'h264', 'pipe:1'], { maxBuffer: 64 * 2 ** 20 }));
    const pool = new DecoderPool({ width: 160, height: 90, perCodec: 1 });
    try {
      const out = await Promise.all([pool.decode('h264', heavy, 5000), pool.decode('h264', heavy, 5000)]);
      for (const rgb of out) expect(rgb.length).toBe(160 * 90 * 3);
      expect(pool.status()).toMatchObject([{ decoded: 2, flushes: 0, holdsFrames: false, restarts: 0 }]);
    } finally {
      pool.stop();
    }
  });

  for (const codec of ['h264', 'h265'] as const) {
    it(`keeps ${codec} frames in order when B-frames make ffmpeg hold them back`, async () => {
      const pool = new DecoderPool({ width: 160, height: 90, perCodec: 1 });
      try {
        const colours = ['red', 'blue', 'lime', 'red', 'blue', 'lime'];
        const frames = colours.map((c) => keyframe(codec, c, true));
        const out: string[] = [];
        // One at a time (each waits for pushes), then a burst.
        for (const k of frames.slice(0, 3)) out.push(colourOf(await pool.decode(codec, k, 1000), 160, 90));
        out.push(...(await Promise.all(frames.slice(3).map((k) => pool.decode(codec, k, 1000)))).map((rgb) => colourOf(rgb, 160, 90)));
        expect(out).toEqual(colours);
        const [decoder] = pool.status();
        expect(decoder).toMatchObject({ codec, decoded: 6, holdsFrames: true, restarts: 0 });
        expect(decoder!.flushes).toBeGreaterThan(0);
      } finally {
        pool.stop();
      }
    });
  }
});
