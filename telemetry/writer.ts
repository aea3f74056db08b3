import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ComponentHealth, Logger } from '../core/index.ts';
import { Spool, type Batch } from './spool.ts';
import { TABLES, TABLE_NAMES, compileEncoder, type RowEncoder, type TableName, type TableRows } from './tables.ts';
import { TableBuffers } from './batcher.ts';
import { insertBatch, firstLine, type InsertContext } from './insert.ts';
import { RejectLog } from './rejects.ts';
import { writerMetrics, type WriterMetrics } from './writer-metrics.ts';
import { Durability } from './durability.ts';
import { WRITER_DEFAULTS, type TelemetryWriterOptions, type WriterSettings, type WriterStatus } from './writer-settings.ts';

export type { RejectedRow } from './rejects.ts';
export { WRITER_DEFAULTS, type TelemetryWriterOptions, type WriterSettings, type WriterStatus } from './writer-settings.ts';


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Batches telemetry rows per table and inserts them into ClickHouse. Rows are validated and
 * encoded on `write` (a bad row is refused with a reason; the rest go on). Buffers are sealed by
 * size or age (`batcher.ts`). One insert is in flight at a time, oldest batch first (`insert.ts`).
 * When an insert fails or times out, that batch and every later one go to a bounded on-disk spool
 * (`spool.ts`) and are replayed in order, with backoff, until ClickHouse takes them. Each batch
 * carries an `insert_deduplication_token` fixed when it is sealed, so a batch that had landed
 * before its failure was reported is not counted twice: at least once on the wire, once in the tables.
 * Every batch held in memory is also journaled to disk when it is sealed (`Spool.journal`), so a
 * killed process loses only the rows not yet sealed: those of the last `flushIntervalMs`, at most
 * `batchMaxRows` per table. `durable()` tells when the rows written so far are safe.
 */
export class TelemetryWriter {
  readonly settings: WriterSettings;
  readonly #log: Logger;
  readonly #m: WriterMetrics;
  readonly #spool: Spool;
  readonly #rejects: RejectLog;
  readonly #buffers: TableBuffers<TableName>;
  readonly #encoders = new Map<string, RowEncoder>(TABLE_NAMES.map((t) => [t, compileEncoder(TABLES[t])]));
  readonly #queue: Batch[] = [];
  readonly #insert: InsertContext;
  readonly #id = randomBytes(6).toString('hex');
  readonly #written = new Map<TableName, number>();
  #seq = 0;
  #timer: NodeJS.Timeout | null = null;
  #pumping = false;
  /** the batch from memory whose insert is in flight */
  #inFlight: Batch | null = null;
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
  /** their rows, until they are on disk or dropped */
  #spillingRows = 0;
  #counts = { received: 0, written: 0, dropped: 0 };
  readonly #durability = new Durability();
  /** each batch's journal write, until it is done (a spill or the removal of its file waits for it) */
  readonly #journaling = new Map<number, Promise<void>>();
  #journalChain: Promise<void> = Promise.resolve();
  #commitWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #commitTimer: NodeJS.Timeout | null = null;

  constructor(opts: TelemetryWriterOptions) {
    this.settings = Object.freeze({ ...WRITER_DEFAULTS, ...opts.settings });
    this.#log = opts.log;
    this.#m = writerMetrics(opts.metrics);
    this.#spool = new Spool(join(opts.dataDir, 'telemetry-spool'), this.settings.spoolMaxBytes);
    this.#rejects = new RejectLog(opts.log, this.#m, opts.onReject);
    this.#buffers = new TableBuffers(this.settings.batchMaxRows, this.settings.batchMaxBytes);
    this.#insert = {
      store: opts.store,
      timeoutMs: this.settings.insertTimeoutMs,
      metrics: this.#m,
      written: (table, rows) => {
        this.#counts.written += rows;
        this.#written.set(table as TableName, (this.#written.get(table as TableName) ?? 0) + rows);
        this.#m.rows.inc({ table, outcome: 'written' }, rows);
        this.#m.stage.sent.inc({ stage: 'telemetry' }, rows);
        this.#lastError = '';
      },
      failed: (table, err) => {
        this.#lastError = firstLine(err);
        this.#m.stage.errors.inc({ stage: 'telemetry', code: (err as { code?: string }).code ?? 'INSERT' });
        if (!this.#failing) this.#log.warn({ table, err: this.#lastError }, 'telemetry: insert failed; spooling to disk and retrying');
      },
      refused: (table, line, reason) => this.#rejects.add(table, line, reason),
    };
  }

  async start(): Promise<void> {
    this.#seq = this.#spool.load();
    this.#gauges();
    if (this.#spool.length) this.#log.warn({ batches: this.#spool.length, rows: this.#spool.rows }, 'telemetry: replaying batches spooled by an earlier run');
    this.#running = true;
    const tick = Math.max(10, Math.min(250, this.settings.flushIntervalMs));
    this.#timer = setInterval(() => this.#tick(), tick);
    this.#timer.unref();
    this.#kick();
  }

  /**
   * Seals every buffer, and gives in-flight and queued batches until `drainMs` to reach
   * ClickHouse; what is left then goes to the spool for the next start. Nothing accepted is lost.
   */
  async stop(drainMs = 5000): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#commit();
    const end = Date.now() + drainMs;
    while (Date.now() < end && (this.#queue.length || this.#pumping) && !this.#failing) {
      this.#kick();
      await sleep(10);
    }
    while (this.#pumping && Date.now() < end + this.settings.insertTimeoutMs) await sleep(10);
    const left = this.#queue.splice(0);
    for (const b of left) this.#spill(b);
    await this.#spoolChain;
    await this.#journalChain;
  }

  /**
   * Validates and buffers one row. Returns false when the row is refused (it is counted, reported
   * to `onReject` and logged); the other rows are not affected.
   */
  write<T extends TableName>(table: T, row: TableRows[T]): boolean {
    this.#counts.received++;
    if (this.#stopped) {
      this.#rejects.add(table, row, 'the telemetry writer is stopped (engine shutting down)');
      return false;
    }
    const encode = this.#encoders.get(table);
    if (!encode) {
      this.#rejects.add(table, row, `unknown table ${String(table)}`);
      return false;
    }
    const line = encode(row);
    if (typeof line !== 'string') {
      this.#rejects.add(table, row, line.toString());
      return false;
    }
    if (this.#buffers.append(table, line)) this.#seal(table);
    return true;
  }

  /**
   * Resolves once every row accepted so far is safe: in a synced journal or spool file, or in
   * ClickHouse. Buffers holding such rows are sealed within `commitIntervalMs`. Rejects when one
   * of their batches was dropped (spool full, disk failing). Beacon ingest acknowledges a
   * terminal's message only then.
   */
  durable(): Promise<void> {
    if (this.#buffers.rows === 0) return this.#durability.wait(this.#seq);
    return new Promise((resolve, reject) => {
      this.#commitWaiters.push({ resolve, reject });
      this.#commitTimer ??= setTimeout(() => this.#commit(), this.settings.commitIntervalMs);
    });
  }

  /** Seals every buffer; those waiting in `durable()` now wait for the batches sealed so far. */
  #commit(): void {
    if (this.#commitTimer) clearTimeout(this.#commitTimer);
    this.#commitTimer = null;
    this.#sealAll();
    const upTo = this.#seq;
    for (const w of this.#commitWaiters.splice(0)) this.#durability.wait(upTo).then(w.resolve, w.reject);
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
    const buffered = this.#buffers.rows;
    let queued = 0;
    for (const b of this.#queue) queued += b.rows;
    return {
      running: this.#running,
      failing: this.#failing,
      lastError: this.#lastError,
      bufferedRows: buffered,
      queuedBatches: this.#queue.length,
      pendingRows: buffered + queued + (this.#inFlight?.rows ?? 0) + this.#spillingRows + this.#spool.rows,
      spool: { batches: this.#spool.length, rows: this.#spool.rows, bytes: this.#spool.bytes, fill: this.#spool.fill, dir: this.#spool.dir },
      rows: { ...this.#counts, rejected: this.#rejects.count },
      writtenByTable: Object.fromEntries(this.#written),
      batches: { ...this.#batches },
      recentRejects: this.#rejects.recent(),
    };
  }

  /** Up while batches go straight in; degraded while the spool holds any (the alarm), down when it is full. */
  health(): ComponentHealth {
    const s = this.#spool;
    const pct = Math.round(s.fill * 1000) / 10;
    const last = this.#lastError ? `; last error: ${this.#lastError}` : '';
    if (this.#dropping) {
      const why = this.#dropping === 'spool_full' ? `telemetry spool full (${pct}% of ${s.maxBytes} bytes)` : 'the disk is slower than the producers';
      return { state: 'down', reason: `${why}: new rows are dropped (counted) until ClickHouse catches up${last}`, spool_rows: s.rows, spool_fill: s.fill };
    }
    if (s.length > 0) return { state: 'degraded', reason: `ClickHouse behind: ${s.rows} rows in the on-disk spool, ${pct}% full${last}`, alarm: s.fill >= 0.8 ? 'high' : 'filling', spool_rows: s.rows, spool_fill: s.fill };
    if (this.#failing) return { state: 'degraded', reason: `ClickHouse inserts failing: ${this.#lastError}` };
    return { state: 'up', written: this.#counts.written, rejected: this.#rejects.count };
  }

  #tick(): void {
    for (const table of this.#buffers.tables(this.settings.flushIntervalMs)) this.#seal(table);
    if ((this.#failing && Date.now() >= this.#retryAt) || (!this.#failing && (this.#spool.length || this.#queue.length))) this.#kick();
  }

  #sealAll(): void {
    for (const table of this.#buffers.tables()) this.#seal(table);
  }

  #seal(table: TableName): void {
    const sealed = this.#buffers.seal(table);
    if (!sealed) return;
    this.#m.stage.received.inc({ stage: 'telemetry' }, sealed.rows); // counted per batch, not per row
    const seq = ++this.#seq;
    const batch: Batch = { seq, table, rows: sealed.rows, token: `gw-${this.#id}-${seq}`, body: sealed.body };
    this.#durability.sealed(seq);
    // While ClickHouse is failing, or too many batches wait, new batches go to disk, not memory.
    if (this.#failing || this.#spool.length > 0 || this.#queue.length >= this.settings.maxQueuedBatches) this.#spill(batch);
    else {
      this.#journal(batch);
      this.#queue.push(batch);
    }
    this.#kick();
  }

  /** Writes a batch kept in memory to the journal too, one at a time, beside its insert. */
  #journal(batch: Batch): void {
    const done = (this.#journalChain = this.#journalChain.then(async () => {
      try {
        await this.#spool.journal(batch);
        this.#durability.safe(batch.seq);
      } catch (err) {
        // Not safe until ClickHouse has it; a killed process would lose it.
        this.#log.error({ err: firstLine(err), dir: this.#spool.dir }, 'telemetry: cannot journal a batch to disk');
      }
      this.#journaling.delete(batch.seq);
    }));
    this.#journaling.set(batch.seq, done);
  }

  /** ClickHouse has a batch from memory (or it was dropped): its journal file goes, after it is written. */
  #unjournal(seq: number): void {
    this.#journalChain = this.#journalChain.then(() => this.#spool.unjournal(seq));
  }

  #spill(batch: Batch): void {
    if (this.#spilling >= 4 * this.settings.maxQueuedBatches) {
      this.#drop(batch, 'spool_backlog'); // the disk is slower than the producers
      return;
    }
    this.#spilling++;
    this.#spillingRows += batch.rows;
    const journaling = this.#journaling.get(batch.seq);
    this.#spoolChain = this.#spoolChain.then(async () => {
      await journaling;
      this.#spilling--;
      if (!this.#spool.fits(batch)) {
        this.#spillingRows -= batch.rows;
        this.#drop(batch, 'spool_full');
        return;
      }
      try {
        await this.#spool.push(batch);
        this.#durability.safe(batch.seq);
        this.#m.batches.inc({ path: 'spilled' });
        this.#batches.spilled++;
      } catch (err) {
        this.#log.error({ err: firstLine(err), dir: this.#spool.dir }, 'telemetry: cannot write to the spool');
        this.#drop(batch, 'spool_error');
      }
      this.#spillingRows -= batch.rows;
      this.#gauges();
    });
  }

  #drop(batch: Batch, reason: string): void {
    this.#durability.lost(batch.seq, reason);
    this.#unjournal(batch.seq);
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
    if (this.#dropping && this.#spool.fill < 0.95 && this.#spilling < this.settings.maxQueuedBatches) this.#dropping = '';
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
        if (!fromSpool) this.#inFlight = this.#queue.shift()!;
        const outcome = await insertBatch(this.#insert, batch);
        this.#inFlight = null;
        if (outcome === 'ok') {
          if (fromSpool) {
            await this.#spool.remove(batch.seq);
            this.#m.batches.inc({ path: 'replayed' });
            this.#batches.replayed++;
            this.#gauges();
          } else {
            this.#durability.safe(batch.seq);
            this.#unjournal(batch.seq);
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
        this.#backoff = this.#backoff ? Math.min(this.settings.retryMaxMs, this.#backoff * 2) : this.settings.retryInitialMs;
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
}
