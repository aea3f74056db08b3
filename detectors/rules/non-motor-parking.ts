import { HeldClusters } from './clusters.ts';
import { watched, type ZoneRuleFactory } from './zone-rule.ts';

/**
 * `non_motor_parking` (CJ/T 214 0506 非机动车乱停放): bicycles, e-bikes and motorcycles left in
 * the zone longer than `dwell_s`, one violation per cluster with its count, from `min_count` on.
 */
export const nonMotorParking: ZoneRuleFactory = (cameraId, zone, opts) => new HeldClusters(cameraId, zone, opts, (d) => watched(zone, d));
