/**
 * The ClickHouse tables for terminal beacons, as received: `beacon_positions`, `beacon_reports`
 * and `terminal_events`. Telemetry migration 3 creates them (telemetry/migrations.ts), and
 * `BeaconIngest.start()` runs the migrations, so a beacon ingest on its own store has them too.
 * The worker statistics (`worker_daily`) read them: each position is stored once.
 */
export type BeaconTable = 'beacon_positions' | 'beacon_reports' | 'terminal_events';
