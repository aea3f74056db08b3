import { Type, type Static } from 'typebox';
import { Section } from './common.ts';

/** Terminal beacons over MQTT: validation limits, status timers and dedup. Their rows are batched by the telemetry writer (`services.clickhouse.writer`). */
export const Beacons = Section({
  inactive_s: Type.Number({ exclusiveMinimum: 0, default: 300, description: 'no beacon for this long marks an online terminal inactive' }),
  max_payload_bytes: Type.Integer({ minimum: 256, default: 4096, description: 'cap on a location or status payload' }),
  photo_max_bytes: Type.Integer({ minimum: 1024, default: 2_000_000, description: 'cap on a report photo (decoded JPEG); a report payload may be 4/3 of this plus 16 KB' }),
  stuck_gps_s: Type.Number({ exclusiveMinimum: 0, default: 600, description: 'same coordinates this long while reporting speed flags stuck GPS' }),
  stuck_min_speed_kmh: Type.Number({ minimum: 0, default: 3, description: 'speed (OwnTracks vel, km/h) above which unchanged coordinates count as stuck' }),
  future_tolerance_s: Type.Number({ minimum: 0, default: 300, description: 'a timestamp further in the future is rejected' }),
  bounds_margin_m: Type.Number({ minimum: 0, default: 2000, description: 'positions this far outside the grid\'s bounding box are rejected' }),
  dedup_window: Type.Integer({ minimum: 0, default: 200_000, description: 'recent message keys remembered to drop redeliveries' }),
  log_interval_s: Type.Number({ minimum: 0, default: 10, description: 'at most one rejection log line per terminal and reason in this interval' }),
}, { description: 'terminal beacons' });

export type BeaconsT = Static<typeof Beacons>;
