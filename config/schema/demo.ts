import { Type, type Static } from 'typebox';
import { Section } from './common.ts';

/**
 * Simulators the engine runs in-process, so that a demo city shows something happening:
 * cameras streaming, terminals walking, departments signing and resolving. Off for a real city.
 */
export const Demo = Section({
  camera_farm: Type.Boolean({ default: false, description: 'serve the city\'s cameras from the simulated RTSP camera farm' }),
  terminals: Type.Boolean({ default: false, description: 'walk the city\'s terminals on patrol and send their beacons and reports' }),
  dispatch: Type.Boolean({ default: false, description: 'play every department\'s work-order system' }),
  dispatch_sign_delay_s: Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })], { default: [5, 60] }),
  dispatch_resolve_delay_s: Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })], { default: [30, 240] }),
  dispatch_miss_rate: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: 'share of orders never signed, so that deadlines are missed' }),
  dispatch_return_rate: Type.Number({ minimum: 0, maximum: 1, default: 0.05, description: 'share of orders sent back as "not ours", so that cases are re-routed' }),
}, { description: 'in-process simulators for demos' });

export type DemoT = Static<typeof Demo>;
