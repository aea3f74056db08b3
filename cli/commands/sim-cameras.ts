import { InvalidArgumentError, type Command } from 'commander';
import { frameSize, type FrameSize } from './frame-size.ts';
import { loadCity } from '../../config/index.ts';
import { startCameraFarm, farmCameraPath, farmCamerasFor, assignScenes, FARM_FAULTS, type FarmCamera, type FarmFault } from '../../sim/index.ts';

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function share(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a share within 0..1, got ${JSON.stringify(v)}`);
  return n;
}

/** `--fault cam-0003=401,cam-0007=stall` → path → fault. */
function parseFaults(spec: string | undefined): Map<string, FarmFault> {
  const out = new Map<string, FarmFault>();
  for (const part of (spec ?? '').split(',').filter(Boolean)) {
    const [path, fault] = part.split('=');
    if (!path || !FARM_FAULTS.includes(fault as FarmFault)) throw new Error(`bad --fault ${JSON.stringify(part)}: use path=${FARM_FAULTS.join('|')}`);
    out.set(path, fault as FarmFault);
  }
  return out;
}

/** `gridwatch sim cameras`: a farm of simulated RTSP cameras looping real footage. */
export function registerSimCameras(program: Command): void {
  const sim = program.commands.find((c) => c.name() === 'sim') ?? program.command('sim').description('simulators for tests and benchmarks');
  sim
    .command('cameras')
    .description('serve N simulated RTSP cameras (H.264 640x360 15 fps, 2 s GOP) at rtsp://host:port/cam-NNNN')
    .option('--count <n>', 'cameras, when no --city is given', int, 20)
    .option('--port <port>', 'TCP port', int, 8554)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--city <file>', "serve the city's cameras on this port, with their credentials")
    .option('--no-auth', 'serve without authentication')
    .option('--codec <codec>', 'h264 or h265', 'h264')
    .option('--size <WxH>', 'frame size (default: 640x360)', frameSize, { width: 640, height: 360 })
    .option('--data-dir <dir>', 'where the encoded clip is cached', './data')
    .option('--fault <list>', `per-camera faults, e.g. cam-0003=401,cam-0007=stall (${FARM_FAULTS.join(', ')})`)
    .option('--fault-after-s <s>', 'when stall/drop/resolution faults act', int, 5)
    .option('--static-share <x>', 'share of the cameras (0..1, spread evenly) that serve a static scene: one frame of the footage held', share, 0)
    .action(async (opts: { count: number; port: number; host: string; city?: string; auth: boolean; codec: string; size: FrameSize; dataDir: string; fault?: string; faultAfterS: number; staticShare: number }) => {
      const faults = parseFaults(opts.fault);
      let cameras: FarmCamera[];
      if (opts.city) {
        const city = loadCity(opts.city);
        cameras = farmCamerasFor(city.cameras.values(), { auth: opts.auth });
      } else {
        cameras = Array.from({ length: opts.count }, (_, i) => ({ path: farmCameraPath(i) }));
      }
      cameras = assignScenes(cameras, opts.staticShare);
      for (const c of cameras) { const f = faults.get(c.path); if (f) { c.fault = f; c.faultAfterS = opts.faultAfterS; } }
      if (opts.codec !== 'h264' && opts.codec !== 'h265') throw new Error('--codec must be h264 or h265');
      const farm = await startCameraFarm({ dataDir: opts.dataDir, port: opts.port, host: opts.host, cameras, clip: { codec: opts.codec, ...opts.size } });
      const still = cameras.filter((c) => c.scene === 'static').length;
      process.stdout.write(`camera farm: ${cameras.length} cameras (${still} static) at rtsp://${opts.host}:${farm.status().port}/${cameras[0]?.path ?? ''} …\n`);
      const stop = (): void => { void farm.stop().then(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
