import { mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A sealed batch: the rows of one table, encoded, with the token that makes a replay harmless. */
export interface Batch {
  readonly seq: number;
  readonly table: string;
  readonly token: string;
  readonly rows: number;
  readonly body: Buffer;
}

interface Entry {
  readonly seq: number;
  readonly table: string;
  readonly file: string;
  readonly bytes: number;
  readonly rows: number;
}

const NAME = /^(\d{12})\.([a-z_]+)\.(\d+)\.(batch|wal)$/;

const fileName = (b: Batch, kind: 'batch' | 'wal') => `${String(b.seq).padStart(12, '0')}.${b.table}.${b.rows}.${kind}`;

/**
 * A bounded on-disk FIFO of batches, one file per batch: `<seq>.<table>.<rows>.batch`, holding a
 * one-line JSON header (the token) and the encoded rows. Files are written to a temporary name,
 * synced, renamed, and the folder synced, so a crash leaves either a whole batch or none, and the
 * name survives a power cut. Everything in the spool is older than everything still in memory,
 * so replaying it head first keeps the order.
 *
 * It is also the write-ahead journal of the batches held in memory: each is written as
 * `<seq>.<table>.<rows>.wal` when it is sealed, removed once ClickHouse has it, and renamed to a
 * `.batch` when it goes to the spool after all. A process that is killed leaves its `.wal` files,
 * and the next `load()` takes them as spooled batches (their tokens make a replay of a batch that
 * had landed harmless).
 */
export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  #entries: Entry[] = [];
  #bytes = 0;
  #rows = 0;
  /** journaled batches (in memory, not in the spool) → their `.wal` file */
  readonly #journal = new Map<number, string>();
  /** bodies of recently spooled batches, so replaying them does not read the disk back */
  readonly #cache = new Map<number, Batch>();

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** Loads what an earlier run left; returns the highest sequence number seen. */
  load(): number {
    mkdirSync(this.dir, { recursive: true });
    let maxSeq = 0;
    const entries: Entry[] = [];
    for (let file of readdirSync(this.dir)) {
      // A temporary file is a write that never finished: its batch was not spooled.
      if (file.endsWith('.tmp')) {
        unlinkSync(join(this.dir, file));
        continue;
      }
      const m = NAME.exec(file);
      if (!m) continue;
      if (m[4] === 'wal') {
        const spooled = file.replace(/\.wal$/, '.batch');
        renameSync(join(this.dir, file), join(this.dir, spooled));
        file = spooled;
      }
      const bytes = statSync(join(this.dir, file)).size;
      entries.push({ seq: Number(m[1]), table: m[2]!, rows: Number(m[3]), file, bytes });
    }
    entries.sort((a, b) => a.seq - b.seq);
    this.#entries = entries;
    this.#bytes = entries.reduce((s, e) => s + e.bytes, 0);
    this.#rows = entries.reduce((s, e) => s + e.rows, 0);
    for (const e of entries) maxSeq = Math.max(maxSeq, e.seq);
    return maxSeq;
  }

  get length(): number {
    return this.#entries.length;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get rows(): number {
    return this.#rows;
  }
  get fill(): number {
    return this.maxBytes > 0 ? this.#bytes / this.maxBytes : 1;
  }

  /** Whether a batch of this size still fits. */
  fits(batch: Batch): boolean {
    return this.#bytes + batch.body.length + 256 <= this.maxBytes;
  }

  /** Writes a batch held in memory to its `.wal` file, so that a killed process still has it. */
  async journal(batch: Batch): Promise<void> {
    const file = fileName(batch, 'wal');
    await this.#write(batch, file);
    this.#journal.set(batch.seq, file);
  }

  /** ClickHouse has a journaled batch: its `.wal` file goes. */
  async unjournal(seq: number): Promise<void> {
    const file = this.#journal.get(seq);
    if (file === undefined) return;
    this.#journal.delete(seq);
    await unlink(join(this.dir, file)).catch(() => undefined);
  }

  /** Adds a batch in sequence order (normally at the tail). The caller checks `fits` first. */
  async push(batch: Batch): Promise<void> {
    const file = fileName(batch, 'batch');
    const wal = this.#journal.get(batch.seq);
    if (wal !== undefined) {
      // Already on disk as a journal entry: renaming it is enough.
      this.#journal.delete(batch.seq);
      await rename(join(this.dir, wal), join(this.dir, file));
      await this.#syncDir();
    } else {
      await this.#write(batch, file);
    }
    if (this.#cache.size < 4) this.#cache.set(batch.seq, batch);
    const bytes = headerOf(batch).length + batch.body.length;
    // Keep the index in sequence order: a failed in-flight batch can be spilled after newer ones.
    const entry = { seq: batch.seq, table: batch.table, rows: batch.rows, file, bytes };
    let i = this.#entries.length;
    while (i > 0 && this.#entries[i - 1]!.seq > entry.seq) i--;
    this.#entries.splice(i, 0, entry);
    this.#bytes += bytes;
    this.#rows += batch.rows;
  }

  /** Reads the oldest batch without removing it. */
  async head(): Promise<Batch | null> {
    const e = this.#entries[0];
    if (!e) return null;
    const cached = this.#cache.get(e.seq);
    if (cached) return cached;
    const data = await readFile(join(this.dir, e.file));
    const nl = data.indexOf(10);
    const header = JSON.parse(data.subarray(0, nl).toString('utf8')) as { token: string; table: string; rows: number };
    return { seq: e.seq, table: header.table, token: header.token, rows: header.rows, body: data.subarray(nl + 1) };
  }

  /** Removes a batch once ClickHouse has it (the head, unless a lower one was added meanwhile). */
  async remove(seq: number): Promise<void> {
    const i = this.#entries.findIndex((e) => e.seq === seq);
    if (i < 0) return;
    const [e] = this.#entries.splice(i, 1);
    if (!e) return;
    this.#bytes -= e.bytes;
    this.#rows -= e.rows;
    this.#cache.delete(seq);
    await unlink(join(this.dir, e.file)).catch(() => undefined);
  }

  /** Drops the oldest batch (an unreadable file). */
  async removeHead(): Promise<void> {
    const e = this.#entries[0];
    if (e) await this.remove(e.seq);
  }

  /** Writes a file whole or not at all: a temporary name, synced, renamed, the folder synced. */
  async #write(batch: Batch, file: string): Promise<void> {
    const tmp = join(this.dir, `${file}.tmp`);
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writev([headerOf(batch), batch.body]);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(this.dir, file));
    } catch (err) {
      // A failed write (disk full) must not leave a temporary file that nothing deletes.
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await this.#syncDir();
  }

  /** A rename is durable only once the folder's entry is on disk. */
  async #syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

function headerOf(batch: Batch): Buffer {
  return Buffer.from(`${JSON.stringify({ v: 1, token: batch.token, table: batch.table, rows: batch.rows })}\n`);
}
