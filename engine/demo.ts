import type { Engine } from './engine.ts';
import { DispatchSimulator } from '../router/index.ts';
import { TerminalSimulator } from '../beacons/index.ts';
import { startCameraFarm, farmCamerasFor } from '../ingest/index.ts';

type Stop = () => Promise<void>;

/**
 * The demo's simulators, run inside the engine when the city's `demo` section asks for them.
 * Returns how to stop them; the engine stops them first, before anything they talk to.
 */
export async function startDemo(engine: Engine): Promise<Stop> {
  const demo = engine.city.config.demo;
  const stops: Stop[] = [];
  const cameras = [...engine.city.cameras.values()];
  if (demo.camera_farm && cameras.length) {
    // The farm listens where the demo cameras point (rtsp://127.0.0.1:8554/… by default).
    const port = Number(new URL(cameras[0]!.url).port || 554);
    const farm = await startCameraFarm({ dataDir: engine.dataDir, port, cameras: farmCamerasFor(cameras) });
    stops.push(() => farm.stop());
  }
  if (demo.dispatch) {
    const sim = new DispatchSimulator({
      nc: engine.bus.nc, departments: [...engine.city.departments.keys()], log: engine.log.child({ component: 'sim-dispatch' }),
      signDelayS: demo.dispatch_sign_delay_s, resolveDelayS: demo.dispatch_resolve_delay_s, missRate: demo.dispatch_miss_rate, returnRate: demo.dispatch_return_rate,
    });
    await sim.start();
    stops.push(() => sim.stop());
  }
  if (demo.terminals) {
    const sim = new TerminalSimulator({ url: engine.mqtt.url, city: engine.city, terminals: [...engine.city.terminals.values()], log: engine.log.child({ component: 'sim-terminals' }), reportEveryS: 120 });
    await sim.start();
    stops.push(() => sim.stop());
  }
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}
