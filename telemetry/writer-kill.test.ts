import { describe, it, expect } from 'vitest';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, until } from '../test/harness.ts';
import { startTelemetryNode, storedRows } from '../test/telemetry-node.ts';
import { Spool } from './spool.ts';

/** The fixture's writer settings (test/fixtures/telemetry-node.ts, `rows` mode). */
const BATCH_MAX_ROWS = 500;

describe('telemetry writer killed with SIGKILL', () => {
  it('loses at most the rows not yet sealed (one flush interval, at most batch_max_rows per table)', async () => {
    const dir = tempDir('gw-writer-kill-');
    const node = startTelemetryNode(['rows', dir]);
    // A slow ClickHouse (1.5 s an insert): sealed batches wait in memory behind the one in flight.
    await node.send('slow 1500');
    const accepted = () => Number(node.lines.filter((l) => l.startsWith('accepted ')).at(-1)?.slice(9) ?? 0);
    await until('4000 rows accepted', () => accepted() >= 4000, 30_000);
    await node.kill();
    const written = accepted(); // the last count it printed: at most what it had accepted
    const { flushed, camera_status: stored } = await storedRows(dir);
    const lost = written - stored;
    console.log(`writer SIGKILL: ${written} rows accepted, ${stored} stored after restart, ${lost} lost (bound ${BATCH_MAX_ROWS})`);
    expect(flushed).toBe(true);
    expect(lost).toBeLessThanOrEqual(BATCH_MAX_ROWS);
  }, 120_000); // two child processes, each opening chdb

  it('leaves no temporary file behind: a failed spool write removes its own, a restart removes stale ones', async () => {
    const dir = join(tempDir('gw-spool-tmp-'), 'spool');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '000000000007.events.3.batch.tmp'), 'half a batch from a run that died');
    const spool = new Spool(dir, 1 << 20);
    spool.load();
    expect(readdirSync(dir)).toEqual([]);
    // The rename onto a folder of the same name fails after the temporary file was written.
    mkdirSync(join(dir, '000000000001.events.1.batch'));
    await expect(spool.push({ seq: 1, table: 'events', token: 't-1', rows: 1, body: Buffer.from('[1]\n') })).rejects.toThrow();
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
