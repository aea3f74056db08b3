import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, stageCounters, type ComponentHealth, type Logger, type Registry, type StageCounters } from '../core/index.ts';
import type { TelemetryStore } from './store.ts';
import { Spool, type Batch } from './spool.ts';
import { TABLES, TABLE_NAMES, compileEncoder, type RowEncoder, type TableName, type TableRows } from './tables.ts';

export interface WriterSettings {
  /** a table's buffer is sealed into a batch at this many rows… */
  readonly batch_max_rows: number;
  /** …or this many encoded bytes… */
  readonly batch_max_bytes: number;
  /** …or when its oldest row is this old */
  readonly flush_interval_ms: number;
  /** sealed batches held in memory while one insert is in flight; more go to the spool */
  readonly max_queued_batches: number;
  /** the on-disk queue's limit; past it, new batches are dropped and counted */
  readonly spool_max_bytes: number;
  /** an insert slower than this counts as failed; its batch is spooled and replayed (deduplicated) */
  readonly insert_timeout_ms: number;
  readonly retry_initial_ms: number;
  readonly retry_max_ms: number;
}

export const WRITER_DEFAULTS: WriterSettings = Object.freeze({
  batch_max_rows: 10_000,
  batch_max_bytes: 4 << 20,
  flush_interval_ms: 1000,
  max_queued_batches: 4,
  spool_max_bytes: 512 << 20,
  insert_timeout_ms: 30_000,
  retry_initial_ms: 250,
  retry_max_ms: 30_000,
});

export interface RejectedRow {
  readonly table: string;
  /** which column and why, e.g. `column score: expected a finite number, got string "high"` */
  readonly reason: string;
  /** the row as JSON, cut at 300 characters */
  readonly row: string;
}

export interface TelemetryWriterOptions {
  readonly store: TelemetryStore;
  /** the spool lives in `<dataDir>/telemetry-spool` */
  readonly dataDir: string;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly settings?: Partial<WriterSettings>;
  /** called for every row refused, by validation or by ClickHouse */
  readonly onReject?: (r: RejectedRow) => void;
}

export interface WriterStatus {
  readonly running: boolean;
  readonly failing: boolean;
  readonly lastError: string;
  readonly bufferedRows: number;
  readonly queuedBatches: number;
  readonly spool: { readonly batches: number; readonly rows: number; readonly bytes: number; readonly fill: number; readonly dir: string };
  readonly rows: { readonly received: number; readonly written: number; readonly rejected: number; readonly dropped: number };
  /** batches inserted straight from memory, spilled to the spool, replayed from it */
  readonly batches: { readonly direct: number; readonly spilled: number; readonly replayed: number };
  readonly recentRejects: readonly RejectedRow[];
}

/** A table's open batch: encoded rows appended to one growing byte buffer, so sealing is O(1). */
interface Buffered {
  data: Buffer;
  bytes: number;
  rows: number;
  since: number;
}

interface WriterMetrics {
  readonly stage: StageCounters;
  readonly rows: Counter<'table' | 'outcome'>;
  readonly batches: Counter<'path'>;
  readonly insertSeconds: Histogram<'table'>;
  readonly spoolBytes: Gauge;
  readonly spoolBatches: Gauge;
  readonly spoolFill: Gauge;
}

const metricsByRegistry = new WeakMap<Registry, WriterMetrics>();

function writerMetrics(registry: Registry): WriterMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) {
    m = {
      stage: stageCounters(registry),
      rows: new Counter({ name: 'gridwatch_telemetry_rows_total', help: 'Telemetry rows by table and outcome (written, rejected, dropped)', labelNames: ['table', 'outcome'], registers: [registry] }),
      batches: new Counter({ name: 'gridwatch_telemetry_batches_total', help: 'Batches inserted directly, spilled to the spool, replayed from it', labelNames: ['path'], registers: [registry] }),
      insertSeconds: new Histogram({ name: 'gridwatch_telemetry_insert_seconds', help: 'Time to insert one batch', labelNames: ['table'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
      spoolBytes: new Gauge({ name: 'gridwatch_telemetry_spool_bytes', help: 'Bytes waiting in the on-disk queue', registers: [registry] }),
      spoolBatches: new Gauge({ name: 'gridwatch_telemetry_spool_batches', help: 'Batches waiting in the on-disk queue', registers: [registry] }),
      spoolFill: new Gauge({ name: 'gridwatch_telemetry_spool_fill_ratio', help: 'On-disk queue fill, 0..1; alarm above 0', registers: [registry] }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}

/** ClickHouse error codes that mean the data is bad, not that the server is unwell. */
const DATA_ERROR = /\b(CANNOT_PARSE_\w+|TYPE_MISMATCH|INCORRECT_DATA|CANNOT_READ_ALL_DATA|ATTEMPT_TO_READ_AFTER_EOF|VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE|CANNOT_CONVERT_TYPE|ARGUMENT_OUT_OF_BOUND|TOO_LARGE_STRING_SIZE|INCORRECT_NUMBER_OF_COLUMNS|CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN|UNKNOWN_ELEMENT_IN_INPUT|ILLEGAL_COLUMN)\b/;

function isDataError(err: unknown): boolean {
  for (let e = err as { message?: string; type?: string; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if ((e.type && DATA_ERROR.test(e.type)) || (e.message && DATA_ERROR.test(e.message))) return true;
  }
  return false;
}

function firstLine(err: unknown): string {
  const m = (err as Error)?.message ?? String(err);
  return m.split('\n')[0]!.slice(0, 300);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Batches telemetry rows per table and inserts them into ClickHouse. Rows are validated and
 * encoded on `write` (a bad row is refused with a reason; the rest go on). Buffers are sealed by
 * size or age. One insert is in flight at a time, oldest batch first. When an insert fails or
 * times out, that batch and every later one go to a bounded on-disk spool and are replayed in
 * order, with backoff, until ClickHouse takes them. Each batch carries an
 * `insert_deduplication_token` fixed when it is sealed, so a batch that had landed before its
 * failure was reported is not counted twice: at least once on the wire, once in the tables.
 */
export class TelemetryWriter {
  readonly settings: WriterSettings;
  readonly #store: TelemetryStore;
  readonly #log: Logger;
  readonly #m: WriterMetrics;
  readonly #spool: Spool;
  readonly #onReject?: (r: RejectedRow) => void;
  readonly #buffers = new Map<TableName, Buffered>();
  readonly #encoders = new Map<string, RowEncoder>(TABLE_NAMES.map((t) => [t, compileEncoder(TABLES[t])]));
  readonly #queue: Batch[] = [];
  readonly #recent: RejectedRow[] = [];
  readonly #id = randomBytes(6).toString('hex');
  #seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #pumping = false;
  #spoolChain: Promise<void> = Promise.resolve();
  #failing = false;
  #retryAt = 0;
  #backoff = 0;
  #lastError = '';
  #running = false;
  #stopped = false;
  #batches = { direct: 0, spilled: 0, replayed: 0 };
  /** why batches are being dropped right now ('' when they are not) */
  #dropping = '';
  /** batches handed to the spool chain and not yet on disk: bounded, so a slow disk cannot eat memory */
  #spilling = 0;
  #rejectLogAt = 0;
  #rejectsSinceLog = 0;
  #counts = { received: 0, written: 0, rejected: 0, dropped: 0 };

  constructor(opts: TelemetryWriterOptions) {
    this.settings = Object.freeze({ ...WRITER_DEFAULTS, ...opts.settings });
    this.#store = opts.store;
    this.#log = opts.log;
    this.#m = writerMetrics(opts.metrics);
    this.#spool = new Spool(join(opts.dataDir, 'telemetry-spool'), this.settings.spool_max_bytes);
    this.#onReject = opts.onReject;
  }

  async start(): Promise<void> {
    this.#seq = this.#spool.load();
    this.#gauges();
    if (this.#spool.length) this.#log.warn({ batches: this.#spool.length, rows: this.#spool.rows }, 'telemetry: replaying batches spooled by an earlier run');
    this.#running = true;
    const tick = Math.max(10, Math.min(250, this.settings.flush_interval_ms));
    this.#timer = setInterval(() => this.#tick(), tick);
    this.#timer.unref();
    this.#kick();
  }

  /**
   * Seals every buffer, and gives in-flight and queued batches until `drain_ms` to reach
   * ClickHouse; what is left then goes to the spool for the next start. Nothing accepted is lost.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#sealAll();
    const end = Date.now() + drainMs;
    while (Date.now() < end && (this.#queue.length || this.#pumping) && !this.#failing) {
      this.#kick();
      await sleep(10);
    }
    while (this.#pumping && Date.now() < end + this.settings.insert_timeout_ms) await sleep(10);
    const left = this.#queue.splice(0);
    for (const b of left) this.#spill(b);
    await this.#spoolChain;
  }

  /**
   * Validates and buffers one row. Returns false when the row is refused (it is counted, reported
   * to `onReject` and logged); the other rows are not affected.
   */
  write<T extends TableName>(table: T, row: TableRows[T]): boolean {
    this.#counts.received++;
    if (this.#stopped) {
      this.#reject(table, row, 'the telemetry writer is stopped (engine shutting down)');
      return false;
    }
    const encode = this.#encoders.get(table);
    if (!encode) {
      this.#reject(table, row, `unknown table ${String(table)}`);
      return false;
    }
    const line = encode(row);
    if (typeof line !== 'string') {
      this.#reject(table, row, line.toString());
      return false;
    }
    let buf = this.#buffers.get(table);
    if (!buf) {
      buf = { data: Buffer.allocUnsafe(64 * 1024), bytes: 0, rows: 0, since: Date.now() };
      this.#buffers.set(table, buf);
    }
    if (buf.rows === 0) buf.since = Date.now();
    const worst = line.length * 3; // UTF-8 bytes per UTF-16 unit, at most
    if (buf.bytes + worst > buf.data.length) {
      const grown = Buffer.allocUnsafe(Math.max(buf.data.length * 2, buf.bytes + worst));
      buf.data.copy(grown, 0, 0, buf.bytes);
      buf.data = grown;
    }
    buf.bytes += buf.data.write(line, buf.bytes, 'utf8');
    buf.rows++;
    if (buf.rows >= this.settings.batch_max_rows || buf.bytes >= this.settings.batch_max_bytes) this.#seal(table, buf);
    return true;
  }

  /** Writes many rows of one table; returns how many were accepted. */
  writeMany<T extends TableName>(table: T, rows: readonly TableRows[T][]): number {
    let ok = 0;
    for (const r of rows) if (this.write(table, r)) ok++;
    return ok;
  }

  /**
   * Seals all buffers now and waits until everything written so far is in ClickHouse. Returns
   * false if that did not happen within `timeoutMs` (ClickHouse down: the rows are spooled).
   */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    this.#sealAll();
    const end = Date.now() + timeoutMs;
    for (;;) {
      await this.#spoolChain;
      if (!this.#queue.length && !this.#spool.length && !this.#pumping) return true;
      if (Date.now() > end) return false;
      if (!this.#failing) this.#kick();
      await sleep(5);
    }
  }

  status(): WriterStatus {
    let buffered = 0;
    for (const b of this.#buffers.values()) buffered += b.rows;
    return {
      running: this.#running,
      failing: this.#failing,
      lastError: this.#lastError,
      bufferedRows: buffered,
      queuedBatches: this.#queue.length,
      spool: { batches: this.#spool.length, rows: this.#spool.rows, bytes: this.#spool.bytes, fill: this.#spool.fill, dir: this.#spool.dir },
      rows: { ...this.#counts },
      batches: { ...this.#batches },
      recentRejects: [...this.#recent],
    };
  }

  /** Up while batches go straight in; degraded while the spool holds any (the alarm), down when it is full. */
  health(): ComponentHealth {
    const s = this.#spool;
    const pct = Math.round(s.fill * 1000) / 10;
    if (this.#dropping) {
      const why = this.#dropping === 'spool_full' ? `telemetry spool full (${pct}% of ${s.maxBytes} bytes)` : 'the disk is slower than the producers';
      return { state: 'down', reason: `${why}: new rows are dropped (counted) until ClickHouse catches up${this.#lastError ? `; last error: ${this.#lastError}` : ''}`, spool_rows: s.rows, spool_fill: s.fill };
    }
    if (s.length > 0) return { state: 'degraded', reason: `ClickHouse behind: ${s.rows} rows in the on-disk spool, ${pct}% full${this.#lastError ? `; last error: ${this.#lastError}` : ''}`, alarm: s.fill >= 0.8 ? 'high' : 'filling', spool_rows: s.rows, spool_fill: s.fill };
    if (this.#failing) return { state: 'degraded', reason: `ClickHouse inserts failing: ${this.#lastError}` };
    return { state: 'up', written: this.#counts.written, rejected: this.#counts.rejected };
  }

  #tick(): void {
    const now = Date.now();
    for (const [table, buf] of this.#buffers) {
      if (buf.rows && now - buf.since >= this.settings.flush_interval_ms) this.#seal(table, buf);
    }
    if ((this.#failing && now >= this.#retryAt) || (!this.#failing && (this.#spool.length || this.#queue.length))) this.#kick();
  }

  #sealAll(): void {
    for (const [table, buf] of this.#buffers) if (buf.rows) this.#seal(table, buf);
  }

  #seal(table: TableName, buf: Buffered): void {
    // Hand the filled buffer over as the batch body; the next batch starts in a fresh one of the
    // size this table has needed, and a table that went quiet shrinks back.
    const body = buf.data.subarray(0, buf.bytes);
    const rows = buf.rows;
    this.#m.stage.received.inc({ stage: 'telemetry' }, rows); // counted per batch, not per row
    const next = rows >= this.settings.batch_max_rows || buf.bytes >= this.settings.batch_max_bytes ? buf.data.length : 64 * 1024;
    buf.data = Buffer.allocUnsafe(next);
    buf.bytes = 0;
    buf.rows = 0;
    const seq = ++this.#seq;
    const batch: Batch = { seq, table, rows, token: `gw-${this.#id}-${seq}`, body };
    // While ClickHouse is failing, or too many batches wait, new batches go to disk, not memory.
    if (this.#failing || this.#spool.length > 0 || this.#queue.length >= this.settings.max_queued_batches) this.#spill(batch);
    else this.#queue.push(batch);
    this.#kick();
  }

  #spill(batch: Batch): void {
    if (this.#spilling >= 4 * this.settings.max_queued_batches) {
      this.#drop(batch, 'spool_backlog'); // the disk is slower than the producers
      return;
    }
    this.#spilling++;
    this.#spoolChain = this.#spoolChain.then(async () => {
      this.#spilling--;
      if (!this.#spool.fits(batch)) {
        this.#drop(batch, 'spool_full');
        return;
      }
      try {
        await this.#spool.push(batch);
        this.#m.batches.inc({ path: 'spilled' });
        this.#batches.spilled++;
      } catch (err) {
        this.#log.error({ err: firstLine(err), dir: this.#spool.dir }, 'telemetry: cannot write to the spool');
        this.#drop(batch, 'spool_error');
      }
      this.#gauges();
    });
  }

  #drop(batch: Batch, reason: string): void {
    this.#dropping = reason;
    this.#counts.dropped += batch.rows;
    this.#m.rows.inc({ table: batch.table, outcome: 'dropped' }, batch.rows);
    this.#m.stage.dropped.inc({ stage: 'telemetry', reason }, batch.rows);
    this.#log.error({ table: batch.table, rows: batch.rows, reason }, 'telemetry: batch dropped');
  }

  #gauges(): void {
    this.#m.spoolBytes.set(this.#spool.bytes);
    this.#m.spoolBatches.set(this.#spool.length);
    this.#m.spoolFill.set(this.#spool.fill);
    if (this.#dropping && this.#spool.fill < 0.95 && this.#spilling < this.settings.max_queued_batches) this.#dropping = '';
  }

  #kick(): void {
    if (this.#pumping) return;
    if (this.#failing && Date.now() < this.#retryAt) return;
    void this.#pump();
  }

  /** Sends batches one at a time, lowest sequence number first, from the spool or memory. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      for (;;) {
        await this.#spoolChain;
        let head: Batch | null = null;
        try {
          head = this.#spool.length ? await this.#spool.head() : null;
        } catch (err) {
          // An unreadable spool file (a disk fault) must not wedge the queue behind it.
          this.#log.error({ err: firstLine(err), dir: this.#spool.dir }, 'telemetry: unreadable spool file dropped');
          await this.#spool.removeHead();
          this.#gauges();
          continue;
        }
        const mem = this.#queue[0];
        const fromSpool = head !== null && (!mem || head.seq < mem.seq);
        const batch = fromSpool ? head : mem;
        if (!batch) break;
        if (!fromSpool) this.#queue.shift();
        const outcome = await this.#send(batch, batch.token, batch.body);
        if (outcome === 'ok') {
          if (fromSpool) {
            await this.#spool.remove(batch.seq);
            this.#m.batches.inc({ path: 'replayed' });
            this.#batches.replayed++;
            this.#gauges();
          } else {
            this.#m.batches.inc({ path: 'direct' });
            this.#batches.direct++;
          }
          if (this.#failing) this.#log.info({ spool: this.#spool.length }, 'telemetry: ClickHouse takes inserts again');
          this.#failing = false;
          this.#backoff = 0;
          continue;
        }
        // ClickHouse unavailable: keep the batch, and everything queued behind it, on disk.
        this.#failing = true;
        this.#backoff = this.#backoff ? Math.min(this.settings.retry_max_ms, this.#backoff * 2) : this.settings.retry_initial_ms;
        this.#retryAt = Date.now() + this.#backoff;
        if (!fromSpool) {
          this.#spill(batch);
          for (const b of this.#queue.splice(0)) this.#spill(b);
        }
        await this.#spoolChain;
        break;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * One insert attempt. Bad data is split in halves until the bad rows are isolated and refused;
   * the halves' tokens derive from the batch's, so a retry after a failure half-way through does
   * not insert the good halves twice.
   */
  async #send(batch: Batch, token: string, body: Buffer): Promise<'ok' | 'retry'> {
    const t0 = performance.now();
    try {
      await this.#withTimeout(this.#store.insertRaw(batch.table, body, { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1 }));
      this.#m.insertSeconds.observe({ table: batch.table }, (performance.now() - t0) / 1000);
      const rows = countLines(body);
      this.#counts.written += rows;
      this.#m.rows.inc({ table: batch.table, outcome: 'written' }, rows);
      this.#m.stage.sent.inc({ stage: 'telemetry' }, rows);
      this.#lastError = '';
      return 'ok';
    } catch (err) {
      if (!isDataError(err)) {
        this.#lastError = firstLine(err);
        this.#m.stage.errors.inc({ stage: 'telemetry', code: (err as { code?: string }).code ?? 'INSERT' });
        if (!this.#failing) this.#log.warn({ table: batch.table, err: this.#lastError }, 'telemetry: insert failed; spooling to disk and retrying');
        return 'retry';
      }
      const lines = countLines(body);
      if (lines <= 1) {
        this.#reject(batch.table, body.toString('utf8').trimEnd(), `ClickHouse refused it: ${firstLine(err)}`);
        return 'ok';
      }
      const mid = nthLineEnd(body, Math.floor(lines / 2));
      if ((await this.#send(batch, `${token}.0`, body.subarray(0, mid))) === 'retry') return 'retry';
      return this.#send(batch, `${token}.1`, body.subarray(mid));
    }
  }

  #withTimeout(p: Promise<void>): Promise<void> {
    const ms = this.settings.insert_timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`insert took longer than ${ms} ms`)), ms);
    });
    p.catch(() => undefined); // a late failure after the timeout is already handled as one
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  #reject(table: string, row: unknown, reason: string): void {
    let text: string;
    try {
      text = typeof row === 'string' ? row : JSON.stringify(row) ?? String(row);
    } catch {
      text = String(row);
    }
    const r: RejectedRow = { table, reason, row: text.slice(0, 300) };
    this.#counts.rejected++;
    this.#m.stage.received.inc({ stage: 'telemetry' });
    this.#m.rows.inc({ table, outcome: 'rejected' });
    this.#m.stage.dropped.inc({ stage: 'telemetry', reason: 'bad_row' });
    this.#recent.push(r);
    if (this.#recent.length > 20) this.#recent.shift();
    this.#rejectsSinceLog++;
    const now = Date.now();
    if (now - this.#rejectLogAt >= 5000) {
      this.#log.warn({ table, reason, rejected: this.#rejectsSinceLog }, 'telemetry: rows rejected');
      this.#rejectLogAt = now;
      this.#rejectsSinceLog = 0;
    }
    try {
      this.#onReject?.(r);
    } catch {
      /* a reporting callback never breaks the writer */
    }
  }
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
