import type { EngineAddOn, EnginePorts } from '../engine/index.ts';
import { DispatchSimulator } from './dispatch.ts';
import { TerminalSimulator } from './terminals.ts';
import { startCameraFarm, farmCamerasFor } from './start-camera-farm.ts';

type Stop = () => Promise<void>;

/**
 * The demo's simulators, run beside the engine when the city's `demo` section asks for them
 * (camera farm, terminals, dispatch): the console shows what the engine makes of them.
 * `gridwatch start` hands this to the engine; the engine stops it first, before anything it talks to.
 */
export const demoSimulators: EngineAddOn = {
  name: 'demo simulators',
  async start(p: EnginePorts): Promise<Stop> {
    const demo = p.city.config.demo;
    const stops: Stop[] = [];
    const cameras = [...p.city.cameras.values()];
    if (demo.camera_farm && cameras.length) {
      // The farm listens where the demo cameras point (rtsp://127.0.0.1:8554/… by default).
      const port = Number(new URL(cameras[0]!.url).port || 554);
      const farm = await startCameraFarm({ dataDir: p.dataDir, port, cameras: farmCamerasFor(cameras) });
      stops.push(() => farm.stop());
    }
    if (demo.dispatch) {
      const sim = new DispatchSimulator({
        nc: p.nc, departments: [...p.city.departments.keys()], log: p.log.child({ component: 'sim-dispatch' }),
        signDelayS: demo.dispatch_sign_delay_s, resolveDelayS: demo.dispatch_resolve_delay_s, missRate: demo.dispatch_miss_rate, returnRate: demo.dispatch_return_rate,
      });
      await sim.start();
      stops.push(() => sim.stop());
    }
    if (demo.terminals) {
      const sim = new TerminalSimulator({ url: p.mqttUrl, city: p.city, terminals: [...p.city.terminals.values()], log: p.log.child({ component: 'sim-terminals' }), reportEveryS: 120 });
      await sim.start();
      stops.push(() => sim.stop());
    }
    return async () => {
      for (const stop of stops.reverse()) await stop();
    };
  },
};
