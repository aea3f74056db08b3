/** A table's open batch: encoded rows appended to one growing byte buffer, so sealing is O(1). */
interface Buffered {
  data: Buffer;
  bytes: number;
  rows: number;
  /** when its first row came (ms) */
  since: number;
}

/** A table's rows taken out of its buffer: the body of one batch. */
export interface Sealed {
  readonly rows: number;
  readonly body: Buffer;
}

const INITIAL_BYTES = 64 * 1024;

/**
 * One open buffer per table, each filled with encoded rows (JSONCompactEachRow lines) until it is
 * full by rows or bytes, or old enough, and then sealed into a batch body.
 */
export class TableBuffers<T extends string> {
  readonly #buffers = new Map<T, Buffered>();
  readonly #maxRows: number;
  readonly #maxBytes: number;

  constructor(maxRows: number, maxBytes: number) {
    this.#maxRows = maxRows;
    this.#maxBytes = maxBytes;
  }

  /** Appends one encoded line; true when the table's buffer is now full and should be sealed. */
  append(table: T, line: string): boolean {
    let buf = this.#buffers.get(table);
    if (!buf) {
      buf = { data: Buffer.allocUnsafe(INITIAL_BYTES), bytes: 0, rows: 0, since: Date.now() };
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
    return buf.rows >= this.#maxRows || buf.bytes >= this.#maxBytes;
  }

  /**
   * Takes a table's rows out as a batch body, or null when it holds none. The filled buffer
   * becomes the body; the next batch starts in a fresh one of the size this table has needed, and
   * a table that went quiet shrinks back.
   */
  seal(table: T): Sealed | null {
    const buf = this.#buffers.get(table);
    if (!buf?.rows) return null;
    const sealed = { rows: buf.rows, body: buf.data.subarray(0, buf.bytes) };
    const full = buf.rows >= this.#maxRows || buf.bytes >= this.#maxBytes;
    buf.data = Buffer.allocUnsafe(full ? buf.data.length : INITIAL_BYTES);
    buf.bytes = 0;
    buf.rows = 0;
    return sealed;
  }

  /** Tables holding rows, and of those only the ones whose oldest row is at least `ageMs` old when given. */
  tables(ageMs?: number): T[] {
    const now = Date.now();
    const out: T[] = [];
    for (const [table, buf] of this.#buffers) if (buf.rows && (ageMs === undefined || now - buf.since >= ageMs)) out.push(table);
    return out;
  }

  /** Rows in all open buffers. */
  get rows(): number {
    let n = 0;
    for (const b of this.#buffers.values()) n += b.rows;
    return n;
  }
}
