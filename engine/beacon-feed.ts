import type { AcceptedBeacon } from '../beacons/index.ts';
import type { ConsoleFeed } from '../console/index.ts';
import type { City } from '../config/index.ts';
import type { TelemetryWriter } from '../telemetry/index.ts';

/**
 * Accepted beacons beyond the beacon tables: positions move the terminals on the console's map,
 * and positions and reports feed the worker statistics (distance walked, time online, reports).
 */
export function forwardBeacons(city: City, feed: ConsoleFeed, writer: TelemetryWriter): (b: AcceptedBeacon) => void {
  return (b) => {
    const worker = city.terminals.get(b.terminal)?.worker ?? b.terminal;
    if (b.kind === 'position') {
      feed.terminalPosition({ terminalId: b.terminal, lat: b.lat, lon: b.lon, ts: b.tstMs, ...(b.acc !== undefined ? { accM: b.acc } : {}), ...(b.batt !== undefined ? { battPct: b.batt } : {}) });
      writer.write('terminal_positions', {
        ts: b.tstMs, terminal: b.terminal, worker, cell: b.cell, lat: b.lat, lon: b.lon,
        acc_m: b.acc ?? null, batt_pct: b.batt === undefined ? null : Math.max(0, Math.min(255, Math.round(b.batt))), speed_mps: b.velKmh === undefined ? null : b.velKmh / 3.6,
      });
    } else {
      writer.write('terminal_reports', {
        ts: b.tstMs, report_id: b.eventId, terminal: b.terminal, worker, cell: b.cell, category: b.category,
        lat: b.lat, lon: b.lon, description: b.text, photo: b.evidence[0] ?? '', event_id: b.eventId,
      });
    }
  };
}
