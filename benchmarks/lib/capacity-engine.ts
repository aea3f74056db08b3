/**
 * The engine under measurement for the node-capacity benchmark, in a process of its own so that
 * /proc shows its CPU and memory (and its children's: ffmpeg decoders, nats-server) apart from
 * the farm and the observer. It runs the engine `gridwatch start` runs, with no add-ons, and on
 * each `figures` request answers the engine's own counters: the sampler's `stats()`, the
 * decoders' and the detector pool's `status()` and the stage counters of the metrics registry.
 *
 *   node --import tsx benchmarks/lib/capacity-engine.ts city.yaml      (started by the bench, with IPC)
 */
import { silentLogger } from '../../core/index.ts';
import { loadCity } from '../../config/index.ts';
import { Engine, type StopTimes } from '../../engine/index.ts';

/** One reading of the engine's counters; all are totals since the engine started. */
export interface EngineFigures {
  atMs: number;
  cameras: number;
  streaming: number;
  /** Sampler: due slots whose on-time window has passed, samples delivered, on time. */
  due: number;
  delivered: number;
  onTime: number;
  /** Samples whose decode was skipped because the P-frame bytes showed no change (the sampler's count). */
  gatedBeforeDecode: number;
  /** Keyframes the ffmpeg decoders gave back. */
  decoded: number;
  /** Keyframes waiting for a decoder, and in a decoder now. */
  decodeQueued: number;
  decodesInFlight: number;
  decoderPids: number[];
  pool: { received: number; inferred: number; inferences: number; gated: number; dropped: number; errors: number; queued: number };
  /** `gridwatch_stage_dropped_total` by `stage/reason`. */
  dropped: Record<string, number>;
  /** Samples inferred per camera. */
  inferredByCamera: Record<string, number>;
  reverifyS: number;
  samplePeriodS: number;
  precision: string;
  gateThreshold: number;
  gateBeforeDecode: boolean;
}

export type HostMessage =
  | { type: 'ready'; natsUrl: string; pid: number; startMs: number }
  | { type: 'figures'; id: number; figures: EngineFigures }
  | { type: 'stopped'; times: StopTimes }
  | { type: 'failed'; message: string };

export type HostRequest = { type: 'figures'; id: number } | { type: 'stop' };

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file || !process.send) throw new Error('usage: started by benchmarks/node-capacity.bench.ts with a city file and an IPC channel');
  const send = (m: HostMessage): void => { process.send!(m); };
  const city = loadCity(file);
  const engine = new Engine({ city, log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: 'capacity-admin-pw' } });
  const t0 = Date.now();
  await engine.start();
  send({ type: 'ready', natsUrl: engine.bus.url, pid: process.pid, startMs: Date.now() - t0 });
  const dropped = engine.metrics.getSingleMetric('gridwatch_stage_dropped_total');
  const d = city.config.detectors;

  const figures = async (): Promise<EngineFigures> => {
    const ingest = engine.cameras.ingest!;
    const stats = ingest.sampler.stats();
    const decoders = ingest.decoders.status();
    const pool = engine.cameras.detectors!.status().pool;
    const byReason: Record<string, number> = {};
    for (const v of dropped ? (await dropped.get()).values : []) byReason[`${v.labels.stage}/${v.labels.reason}`] = v.value;
    const inferredByCamera: Record<string, number> = {};
    for (const [id, c] of Object.entries(pool.cameras)) inferredByCamera[id] = c.inferred;
    return {
      atMs: Date.now(), cameras: stats.cameras, streaming: ingest.fleet.statuses().filter((c) => c.state === 'streaming').length,
      due: stats.expected, delivered: stats.delivered, onTime: stats.onTime, gatedBeforeDecode: stats.gatedBeforeDecode,
      decoded: decoders.reduce((n, x) => n + x.decoded, 0), decodeQueued: stats.queued, decodesInFlight: stats.decodesInFlight, decoderPids: ingest.decoders.pids(),
      pool: { received: pool.received, inferred: pool.inferred, inferences: pool.inferences, gated: pool.gated, dropped: pool.dropped, errors: pool.errors, queued: pool.queued },
      dropped: byReason, inferredByCamera,
      reverifyS: d.reverify_s, samplePeriodS: city.config.ingest.sample_period_s, precision: d.model.precision, gateThreshold: d.gate_threshold, gateBeforeDecode: city.config.ingest.gate_before_decode,
    };
  };

  let stopping = false;
  process.on('message', (m: HostRequest) => {
    if (m.type === 'figures') void figures().then((f) => send({ type: 'figures', id: m.id, figures: f }), (err: Error) => send({ type: 'failed', message: err.message }));
    if (m.type === 'stop' && !stopping) {
      stopping = true;
      void engine.stop().then((times) => { send({ type: 'stopped', times }); process.exit(0); }, (err: Error) => { send({ type: 'failed', message: err.message }); process.exit(1); });
    }
  });
  // The bench gone (killed, crashed) or Ctrl-C: stop the engine, and with it its nats-server and
  // decoders, rather than run on with nobody measuring.
  const quit = (): void => { if (!stopping) { stopping = true; void engine.stop().finally(() => process.exit(0)); } };
  process.on('disconnect', quit);
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
}

main().catch((err: Error) => {
  process.send?.({ type: 'failed', message: err.message } satisfies HostMessage);
  process.stderr.write(`capacity engine: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
