import type { Logger } from '../core/index.ts';
import type { WriterMetrics } from './writer-metrics.ts';

export interface RejectedRow {
  readonly table: string;
  /** which column and why, e.g. `column score: expected a finite number, got string "high"` */
  readonly reason: string;
  /** the row as JSON, cut at 300 characters */
  readonly row: string;
}

/**
 * The rows the writer refused, by validation or by ClickHouse: counted, kept (the last 20), logged
 * at most once every 5 s with how many came meanwhile, and reported to a callback.
 */
export class RejectLog {
  readonly #log: Logger;
  readonly #m: WriterMetrics;
  readonly #onReject?: (r: RejectedRow) => void;
  readonly #recent: RejectedRow[] = [];
  #count = 0;
  #logAt = 0;
  #sinceLog = 0;

  constructor(log: Logger, metrics: WriterMetrics, onReject?: (r: RejectedRow) => void) {
    this.#log = log;
    this.#m = metrics;
    this.#onReject = onReject;
  }

  get count(): number {
    return this.#count;
  }

  /** The last 20, oldest first. */
  recent(): RejectedRow[] {
    return [...this.#recent];
  }

  add(table: string, row: unknown, reason: string): void {
    let text: string;
    try {
      text = typeof row === 'string' ? row : JSON.stringify(row) ?? String(row);
    } catch {
      text = String(row);
    }
    const r: RejectedRow = { table, reason, row: text.slice(0, 300) };
    this.#count++;
    this.#m.stage.received.inc({ stage: 'telemetry' });
    this.#m.rows.inc({ table, outcome: 'rejected' });
    this.#m.stage.dropped.inc({ stage: 'telemetry', reason: 'bad_row' });
    this.#recent.push(r);
    if (this.#recent.length > 20) this.#recent.shift();
    this.#sinceLog++;
    const now = Date.now();
    if (now - this.#logAt >= 5000) {
      this.#log.warn({ table, reason, rejected: this.#sinceLog }, 'telemetry: rows rejected');
      this.#logAt = now;
      this.#sinceLog = 0;
    }
    try {
      this.#onReject?.(r);
    } catch {
      /* a reporting callback never breaks the writer */
    }
  }
}
