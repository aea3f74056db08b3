import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU and memory of a process and all its descendants, by kind, from /proc. The kinds are the
 * process itself (`engine`), ffmpeg (`decoders`), nats-server (`nats`) and anything else
 * (`other`). A process that appears after `start()` counts from zero; one that exits keeps
 * what it used until its last reading.
 */
export type ProcKind = 'engine' | 'decoders' | 'nats' | 'other';
export const PROC_KINDS: readonly ProcKind[] = ['engine', 'decoders', 'nats', 'other'];
const TICK_S = 0.01; // USER_HZ is 100 on Linux
const PAGE_MB = 4096 / 2 ** 20;

interface Stat { ppid: number; comm: string; ticks: number; rssMb: number }

function readStat(pid: number): Stat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    // Fields after the name: state(0) ppid(1) … utime(11) stime(12) … rss(21), in pages.
    return { ppid: Number(f[1]), comm: s.slice(s.indexOf('(') + 1, close), ticks: Number(f[11]) + Number(f[12]), rssMb: Number(f[21]) * PAGE_MB };
  } catch { return null; }
}

export interface TreeReading {
  /** CPU seconds used since `start()`, by kind. */
  cpuS: Record<ProcKind, number>;
  /** Resident memory now, by kind, MB. */
  rssMb: Record<ProcKind, number>;
  processes: Record<ProcKind, number>;
  /** Names of the `other` processes (e.g. tsx's esbuild service), so that none goes unexplained. */
  otherNames: string[];
}

export class ProcessTree {
  readonly #root: number;
  readonly #exclude: Set<number>;
  /** Ticks at start (or 0 for processes seen later), the last ticks read, and the kind. */
  readonly #seen = new Map<number, { base: number; last: number; kind: ProcKind }>();

  /** `exclude`: pids (with their descendants) not to count, e.g. a simulator the root started. */
  constructor(root: number, exclude: readonly number[] = []) {
    this.#root = root;
    this.#exclude = new Set(exclude);
  }

  #tree(): Map<number, Stat> {
    const all = new Map<number, Stat>();
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid)) continue;
      const st = readStat(pid);
      if (st) all.set(pid, st);
    }
    const out = new Map<number, Stat>();
    const root = all.get(this.#root);
    if (!root) return out;
    out.set(this.#root, root);
    // Breadth first from the root, at most 10 levels.
    let level = [this.#root];
    for (let depth = 0; depth < 10 && level.length; depth++) {
      const next: number[] = [];
      for (const [pid, st] of all) if (level.includes(st.ppid) && !this.#exclude.has(pid) && !out.has(pid)) { out.set(pid, st); next.push(pid); }
      level = next;
    }
    return out;
  }

  /** The root and its descendants now, the root first. */
  pids(): number[] {
    return [...this.#tree().keys()];
  }

  static #kind(pid: number, root: number, comm: string): ProcKind {
    if (pid === root) return 'engine';
    if (comm.startsWith('ffmpeg')) return 'decoders';
    if (comm.startsWith('nats-server')) return 'nats';
    return 'other';
  }

  start(): void {
    this.#seen.clear();
    for (const [pid, st] of this.#tree()) this.#seen.set(pid, { base: st.ticks, last: st.ticks, kind: ProcessTree.#kind(pid, this.#root, st.comm) });
  }

  read(): TreeReading {
    const zero = (): Record<ProcKind, number> => ({ engine: 0, decoders: 0, nats: 0, other: 0 });
    const rssMb = zero(), processes = zero(), cpuS = zero();
    const otherNames = new Set<string>();
    for (const [pid, st] of this.#tree()) {
      let e = this.#seen.get(pid);
      if (!e) this.#seen.set(pid, e = { base: 0, last: st.ticks, kind: ProcessTree.#kind(pid, this.#root, st.comm) });
      e.last = st.ticks;
      rssMb[e.kind] += st.rssMb;
      processes[e.kind]++;
      if (e.kind === 'other') otherNames.add(st.comm);
    }
    for (const e of this.#seen.values()) cpuS[e.kind] += (e.last - e.base) * TICK_S;
    return { cpuS, rssMb, processes, otherNames: [...otherNames].sort() };
  }
}
