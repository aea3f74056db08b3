import type { AcceptedBeacon } from '../beacons/index.ts';
import type { ConsoleFeed } from '../console/index.ts';

/**
 * Accepted positions move the terminals on the console's map. (Worker statistics read the beacon
 * tables themselves, so nothing else is written here.)
 */
export function forwardBeacons(feed: ConsoleFeed): (b: AcceptedBeacon) => void {
  return (b) => {
    if (b.kind !== 'position') return;
    feed.terminalPosition({ terminalId: b.terminal, lat: b.lat, lon: b.lon, ts: b.tstMs, ...(b.acc !== undefined ? { accM: b.acc } : {}), ...(b.batt !== undefined ? { battPct: b.batt } : {}) });
  };
}
