import type { TelemetryStore } from './store.ts';
import type { Batch } from './spool.ts';
import type { WriterMetrics } from './writer-metrics.ts';

/** ClickHouse error codes that mean the data is bad, not that the server is unwell. */
const DATA_ERROR = /\b(CANNOT_PARSE_\w+|TYPE_MISMATCH|INCORRECT_DATA|CANNOT_READ_ALL_DATA|ATTEMPT_TO_READ_AFTER_EOF|VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE|CANNOT_CONVERT_TYPE|ARGUMENT_OUT_OF_BOUND|TOO_LARGE_STRING_SIZE|INCORRECT_NUMBER_OF_COLUMNS|CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN|UNKNOWN_ELEMENT_IN_INPUT|ILLEGAL_COLUMN)\b/;

function isDataError(err: unknown): boolean {
  for (let e = err as { message?: string; type?: string; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if ((e.type && DATA_ERROR.test(e.type)) || (e.message && DATA_ERROR.test(e.message))) return true;
  }
  return false;
}

/** An error's first line, at most 300 characters: what logs and health reasons show. */
export function firstLine(err: unknown): string {
  const m = (err as Error)?.message ?? String(err);
  return m.split('\n')[0]!.slice(0, 300);
}

function countLines(body: Buffer): number {
  let n = 0;
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) n++;
  return n;
}

/** The offset just past the n-th newline. */
function nthLineEnd(body: Buffer, n: number): number {
  let i = -1;
  for (let k = 0; k < n; k++) i = body.indexOf(10, i + 1);
  return i + 1;
}

/** What one insert needs, and whom it tells how it went. */
export interface InsertContext {
  readonly store: TelemetryStore;
  /** an insert slower than this counts as failed */
  readonly timeoutMs: number;
  readonly metrics: WriterMetrics;
  /** ClickHouse took these rows */
  written(table: string, rows: number): void;
  /** ClickHouse is unavailable or slow: the batch is to be retried */
  failed(table: string, err: unknown): void;
  /** ClickHouse refused this one row (one encoded line) as bad data */
  refused(table: string, line: string, reason: string): void;
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`insert took longer than ${ms} ms`)), ms);
  });
  p.catch(() => undefined); // a late failure after the timeout is already handled as one
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * One insert attempt of a batch (its raw JSONCompactEachRow body, deduplicated by its token).
 * Bad data is split in halves until the bad rows are isolated and refused; the halves' tokens
 * derive from the batch's, so a retry after a failure half-way through does not insert the good
 * halves twice. 'retry' means ClickHouse is unavailable and the batch is still to be sent.
 */
export async function insertBatch(ctx: InsertContext, batch: Batch, token = batch.token, body = batch.body): Promise<'ok' | 'retry'> {
  const t0 = performance.now();
  try {
    await withTimeout(ctx.store.insertRaw(batch.table, body, { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 }), ctx.timeoutMs);
    ctx.metrics.insertSeconds.observe({ table: batch.table }, (performance.now() - t0) / 1000);
    ctx.written(batch.table, countLines(body));
    return 'ok';
  } catch (err) {
    if (!isDataError(err)) {
      ctx.failed(batch.table, err);
      return 'retry';
    }
    const lines = countLines(body);
    if (lines <= 1) {
      ctx.refused(batch.table, body.toString('utf8').trimEnd(), `ClickHouse refused it: ${firstLine(err)}`);
      return 'ok';
    }
    const mid = nthLineEnd(body, Math.floor(lines / 2));
    if ((await insertBatch(ctx, batch, `${token}.0`, body.subarray(0, mid))) === 'retry') return 'retry';
    return insertBatch(ctx, batch, `${token}.1`, body.subarray(mid));
  }
}
