/** Where a camera waits for a decoder. */
export type Place = 'urgent' | 'waiting' | 'late';

/** What the line keeps on each camera: where it waits, and the ticket of its live entry there. */
export interface InLine {
  queued: Place | undefined;
  ticket: number;
}

/** A camera's entry, keyed by a deadline; live while its `seq` is the camera's ticket. */
interface Entry<C extends InLine> {
  c: C;
  deadlineMs: number;
  /** Arrival order, so equal deadlines are served first come, first served. */
  seq: number;
}

/**
 * The cameras waiting for a decoder, one place each: urgent ones first (the rules are timing
 * them, or they would otherwise go `reverify_s` uninferred), then the waiting by deadline; those
 * found late on the way are set aside and served only when nothing that can still be on time
 * waits, so a backlog does not make every later sample late too.
 *
 * A camera that moves (waiting to urgent, late to waiting with a newer keyframe) gets a new
 * ticket and leaves a stale entry behind, skipped when it comes up; `size` counts cameras, not
 * entries, so the detectors' share of crops is not cut by stale ones.
 */
export class DecodeLine<C extends InLine> {
  readonly #urgent = new DeadlineHeap<C>();
  readonly #waiting = new DeadlineHeap<C>();
  readonly #late: Entry<C>[] = [];
  #lateHead = 0;
  #seq = 0;
  #size = 0;

  /** Cameras waiting, wherever they wait. */
  get size(): number {
    return this.#size;
  }

  /** Queues the camera afresh in `place` (an entry it had elsewhere goes stale). */
  queue(c: C, place: 'urgent' | 'waiting', deadlineMs: number): void {
    if (c.queued === undefined) this.#size++;
    c.queued = place;
    c.ticket = ++this.#seq;
    (place === 'urgent' ? this.#urgent : this.#waiting).push({ c, deadlineMs, seq: c.ticket });
  }

  /** Takes the camera out of the line (served, or gone). */
  leave(c: C): void {
    if (c.queued !== undefined) this.#size--;
    c.queued = undefined;
    c.ticket = 0;
  }

  /**
   * The next camera to decode, taken out of the line; `isLate` says whether a waiting one's
   * sample is already late, which sets it aside.
   */
  next(isLate: (c: C) => boolean): C | undefined {
    while (this.#size > 0) {
      const e = this.#urgent.pop() ?? this.#waiting.pop() ?? this.#late[this.#lateHead++];
      if (!e) break;
      const c = e.c;
      if (e.seq !== c.ticket) continue;
      if (c.queued === 'waiting' && isLate(c)) {
        c.queued = 'late';
        this.#late.push(e);
        continue;
      }
      this.leave(c);
      this.#compactLate();
      return c;
    }
    this.#compactLate();
    return undefined;
  }

  clear(): void {
    for (const e of [...this.#urgent.drain(), ...this.#waiting.drain(), ...this.#late.splice(0)]) this.leave(e.c);
    this.#lateHead = 0;
  }

  /** Drops served and stale entries from the late list: under overload, superseded ones pile up there. */
  #compactLate(): void {
    const late = this.#late;
    if (late.length - this.#lateHead > 2 * this.#size + 1024) {
      const live = late.slice(this.#lateHead).filter((e) => e.seq === e.c.ticket);
      late.length = 0;
      late.push(...live);
      this.#lateHead = 0;
    } else if (this.#lateHead > 1024 && this.#lateHead * 2 > late.length) {
      late.splice(0, this.#lateHead);
      this.#lateHead = 0;
    }
  }
}

/** A binary min-heap of entries by deadline, then arrival. */
class DeadlineHeap<C extends InLine> {
  readonly #items: Entry<C>[] = [];

  /** Empties the heap, returning what it held. */
  drain(): Entry<C>[] {
    return this.#items.splice(0);
  }

  push(e: Entry<C>): void {
    const a = this.#items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Entry<C> | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || !last) return top;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && before(a[l]!, a[m]!)) m = l;
      if (r < a.length && before(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }
}

function before<C extends InLine>(x: Entry<C>, y: Entry<C>): boolean {
  return x.deadlineMs < y.deadlineMs || (x.deadlineMs === y.deadlineMs && x.seq < y.seq);
}
