/**
 * RTP depacketisation of H.264 (RFC 6184: single NAL, STAP-A, FU-A) and H.265 (RFC 7798:
 * single NAL, AP, FU) into Annex-B access units. One instance per camera; every buffer is
 * allocated once and grown only when a larger access unit arrives. The emitted access unit is
 * a view into those buffers, valid only during the sink call: a sink that keeps it must copy.
 */

export type VideoCodec = 'h264' | 'h265';

/** One assembled access unit; the same object is reused for every call. */
import { RtspOversizeError } from '../errors.ts';

export interface AccessUnit {
  codec: VideoCodec;
  /** Annex-B bytes (4-byte start codes); keyframes carry their parameter sets first. */
  data: Uint8Array;
  keyframe: boolean;
  rtpTimestamp: number;
  /** Capture time on the camera's monotonic clock, in ms since the epoch (wall-aligned at first packet). */
  timeMs: number;
}

export interface AccessUnitSink {
  onAccessUnit(au: AccessUnit): void;
  /**
   * Only keyframes are wanted: the slices of other access units are checked and counted but not
   * copied, and those access units are not passed on. A sampler needs nothing else, and this
   * skips copying about half the bytes of a typical stream.
   */
  readonly keyframesOnly?: boolean;
  /** The size in payload bytes of each access unit that is not a keyframe (not passed on). */
  onDeltaSize?(bytes: number): void;
}

/** Counters a depacketiser keeps; read them, never write. */
export interface DepacketizerCounters {
  packets: number;
  bytes: number;
  accessUnits: number;
  keyframes: number;
  /** Sequence-number gaps seen. */
  gaps: number;
  /** Access units dropped because a gap or a broken fragment damaged them. */
  droppedAccessUnits: number;
  /** Packets that are not valid RTP for this track (bad version, truncated, other payload type). */
  badPackets: number;
  lastKeyframeMs: number;
}

const START_CODE = [0, 0, 0, 1] as const;
const MAX_DRIFT_MS = 10_000;
/** The largest access unit kept: far above a 4K keyframe; one that never ends (no marker, one timestamp) fails the camera here. */
export const MAX_ACCESS_UNIT_BYTES = 16 * 1024 * 1024;

export class Depacketizer {
  readonly counters: DepacketizerCounters = { packets: 0, bytes: 0, accessUnits: 0, keyframes: 0, gaps: 0, droppedAccessUnits: 0, badPackets: 0, lastKeyframeMs: 0 };
  #buf = new Uint8Array(128 * 1024);
  #len = 0;
  #out = new Uint8Array(0); // grown on the first keyframe that lacks parameter sets
  readonly #au: AccessUnit;
  #open = false;
  #auTs = 0;
  #damaged = false;
  /** The open access unit has a non-keyframe slice and the sink wants only keyframes. */
  #skipping = false;
  /** Payload bytes of the open access unit. */
  #auBytes = 0;
  readonly #keyframesOnly: boolean;
  #hasKey = false;
  #hasVps = false;
  #hasSps = false;
  #hasPps = false;
  #inFu = false;
  #fuNalStart = 0;
  #fuNalType = -1;
  #expectedSeq = -1;
  // Parameter sets, latest seen (SDP first, then in-band), without start codes.
  #vps: Uint8Array | undefined;
  #sps: Uint8Array | undefined;
  #pps: Uint8Array | undefined;
  // Clock mapping.
  #lastTs = 0;
  #extTs = 0;
  #wallBase = -1;
  #lastTimeMs = 0;

  readonly #sink: AccessUnitSink;
  readonly #cameraId: string;

  constructor(readonly codec: VideoCodec, readonly payloadType: number, readonly clockRate: number, sink: AccessUnitSink, parameterSets: readonly Uint8Array[] = [], cameraId = '') {
    this.#sink = sink;
    this.#cameraId = cameraId;
    this.#au = { codec, data: this.#buf, keyframe: false, rtpTimestamp: 0, timeMs: 0 };
    this.#keyframesOnly = sink.keyframesOnly === true;
    for (const ps of parameterSets) this.#keepParameterSet(ps, 0, ps.length);
  }

  /** The parameter sets known so far, Annex-B, for a decoder that starts mid-stream. */
  parameterSetsAnnexB(): Uint8Array {
    const parts = [this.#vps, this.#sps, this.#pps].filter((p): p is Uint8Array => p !== undefined);
    const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(START_CODE, o); out.set(p, o + 4); o += 4 + p.length; }
    return out;
  }

  /** One RTP packet at pkt[off, off+len), received at nowMs (wall clock). */
  push(pkt: Uint8Array, off: number, len: number, nowMs: number): void {
    const c = this.counters;
    c.packets++;
    c.bytes += len;
    if (len < 12 || (pkt[off]! >> 6) !== 2) { c.badPackets++; return; }
    const b0 = pkt[off]!;
    const b1 = pkt[off + 1]!;
    if ((b1 & 0x7f) !== this.payloadType) { c.badPackets++; return; }
    const marker = (b1 & 0x80) !== 0;
    const seq = (pkt[off + 2]! << 8) | pkt[off + 3]!;
    const ts = ((pkt[off + 4]! << 24) | (pkt[off + 5]! << 16) | (pkt[off + 6]! << 8) | pkt[off + 7]!) >>> 0;
    let start = off + 12 + (b0 & 0x0f) * 4;
    let end = off + len;
    if ((b0 & 0x10) !== 0) {
      if (start + 4 > end) { c.badPackets++; return; }
      start += 4 + ((pkt[start + 2]! << 8) | pkt[start + 3]!) * 4;
    }
    if ((b0 & 0x20) !== 0) end -= pkt[end - 1]!;
    if (start >= end) { c.badPackets++; return; }

    let gap = false;
    if (this.#expectedSeq >= 0 && seq !== this.#expectedSeq) {
      const behind = (this.#expectedSeq - seq) & 0xffff;
      if (behind > 0 && behind < 1000) return; // late duplicate or reordered: ignore
      gap = true;
      c.gaps++;
    }
    this.#expectedSeq = (seq + 1) & 0xffff;
    if (gap && this.#open) this.#damaged = true;
    if (this.#open && ts !== this.#auTs) this.#finish(nowMs);
    if (!this.#open) this.#begin(ts);
    if (gap) { this.#damaged = true; this.#inFu = false; }
    this.#auBytes += end - start;

    if (this.codec === 'h264') this.#payload264(pkt, start, end);
    else this.#payload265(pkt, start, end);
    if (marker) this.#finish(nowMs);
  }

  /** Drops a partly assembled access unit (the connection was lost). */
  reset(): void {
    this.#open = false;
    this.#inFu = false;
    this.#expectedSeq = -1;
  }

  #begin(ts: number): void {
    this.#open = true;
    this.#auTs = ts;
    this.#len = 0;
    this.#damaged = false;
    this.#skipping = false;
    this.#auBytes = 0;
    this.#hasKey = this.#hasVps = this.#hasSps = this.#hasPps = false;
    this.#inFu = false;
  }

  #payload264(p: Uint8Array, s: number, e: number): void {
    const type = p[s]! & 0x1f;
    if (type >= 1 && type <= 23) { this.#nal(p, s, e); return; }
    if (type === 24) { // STAP-A
      let i = s + 1;
      while (i + 2 <= e) {
        const size = (p[i]! << 8) | p[i + 1]!;
        i += 2;
        if (size === 0 || i + size > e) { this.#damaged = true; this.counters.badPackets++; return; }
        this.#nal(p, i, i + size);
        i += size;
      }
      return;
    }
    if (type === 28) { // FU-A
      if (e - s < 3) { this.#damaged = true; this.counters.badPackets++; return; }
      const fu = p[s + 1]!;
      const startBit = (fu & 0x80) !== 0;
      const endBit = (fu & 0x40) !== 0;
      if (startBit) {
        const hdr = (p[s]! & 0xe0) | (fu & 0x1f);
        this.#fuBegin(fu & 0x1f);
        if (!this.#skipping) this.#write1(hdr);
      } else if (!this.#inFu) { this.#damaged = true; return; }
      if (!this.#skipping) this.#write(p, s + 2, e);
      if (endBit) this.#fuEnd();
      return;
    }
    this.counters.badPackets++; // STAP-B, MTAP, FU-B: not used over RTSP/TCP in practice
  }

  #payload265(p: Uint8Array, s: number, e: number): void {
    if (e - s < 3) { this.#damaged = true; this.counters.badPackets++; return; }
    const type = (p[s]! >> 1) & 0x3f;
    if (type < 48) { this.#nal(p, s, e); return; }
    if (type === 48) { // AP
      let i = s + 2;
      while (i + 2 <= e) {
        const size = (p[i]! << 8) | p[i + 1]!;
        i += 2;
        if (size < 2 || i + size > e) { this.#damaged = true; this.counters.badPackets++; return; }
        this.#nal(p, i, i + size);
        i += size;
      }
      return;
    }
    if (type === 49) { // FU
      const fu = p[s + 2]!;
      const ftype = fu & 0x3f;
      if ((fu & 0x80) !== 0) {
        this.#fuBegin(ftype);
        if (!this.#skipping) {
          this.#write1((p[s]! & 0x81) | (ftype << 1));
          this.#write1(p[s + 1]!);
        }
      } else if (!this.#inFu) { this.#damaged = true; return; }
      if (!this.#skipping) this.#write(p, s + 3, e);
      if ((fu & 0x40) !== 0) this.#fuEnd();
      return;
    }
    // 50 (PACI) and reserved types carry nothing we need.
  }

  #fuBegin(type: number): void {
    if (this.#inFu) this.#damaged = true; // previous fragment never ended
    this.#inFu = true;
    this.#fuNalType = type;
    this.#noteType(type);
    if (this.#skipping) return;
    this.#writeStart();
    this.#fuNalStart = this.#len;
  }

  #fuEnd(): void {
    this.#inFu = false;
    if (!this.#skipping && this.#isParamType(this.#fuNalType)) this.#keepParameterSet(this.#buf, this.#fuNalStart, this.#len);
  }

  #nal(p: Uint8Array, s: number, e: number): void {
    const type = this.codec === 'h264' ? p[s]! & 0x1f : (p[s]! >> 1) & 0x3f;
    this.#noteType(type);
    if (this.#isParamType(type)) this.#keepParameterSet(p, s, e);
    if (this.#skipping) return;
    this.#writeStart();
    this.#write(p, s, e);
  }

  #noteType(type: number): void {
    if (this.#keyframesOnly && this.#isNonKeySlice(type)) this.#skipping = true;
    if (this.codec === 'h264') {
      if (type === 5) this.#hasKey = true;
      else if (type === 7) this.#hasSps = true;
      else if (type === 8) this.#hasPps = true;
    } else {
      if (type >= 16 && type <= 21) this.#hasKey = true;
      else if (type === 32) this.#hasVps = true;
      else if (type === 33) this.#hasSps = true;
      else if (type === 34) this.#hasPps = true;
    }
  }

  /** A slice of a picture that is not a keyframe (non-IDR in H.264, non-IRAP in H.265). */
  #isNonKeySlice(type: number): boolean {
    return this.codec === 'h264' ? type >= 1 && type <= 4 : type <= 31 && (type < 16 || type > 23);
  }

  #isParamType(type: number): boolean {
    return this.codec === 'h264' ? type === 7 || type === 8 : type >= 32 && type <= 34;
  }

  #keepParameterSet(p: Uint8Array, s: number, e: number): void {
    if (e <= s) return;
    const type = this.codec === 'h264' ? p[s]! & 0x1f : (p[s]! >> 1) & 0x3f;
    const cur = this.codec === 'h264'
      ? (type === 7 ? this.#sps : type === 8 ? this.#pps : undefined)
      : (type === 32 ? this.#vps : type === 33 ? this.#sps : type === 34 ? this.#pps : undefined);
    if (cur && cur.length === e - s) {
      let same = true;
      for (let i = 0; i < cur.length; i++) if (cur[i] !== p[s + i]) { same = false; break; }
      if (same) return;
    }
    const copy = p.slice(s, e);
    if (this.codec === 'h264') {
      if (type === 7) this.#sps = copy; else if (type === 8) this.#pps = copy;
    } else if (type === 32) this.#vps = copy; else if (type === 33) this.#sps = copy; else if (type === 34) this.#pps = copy;
  }

  #finish(nowMs: number): void {
    this.#open = false;
    const c = this.counters;
    if (this.#inFu) { this.#damaged = true; this.#inFu = false; }
    if (this.#skipping) {
      if (this.#damaged) c.droppedAccessUnits++;
      else (c.accessUnits++, this.#sink.onDeltaSize?.(this.#auBytes));
      return;
    }
    if (this.#len === 0) return;
    if (this.#damaged) { c.droppedAccessUnits++; return; }
    c.accessUnits++;
    const au = this.#au;
    au.rtpTimestamp = this.#auTs;
    au.timeMs = this.#mapTime(this.#auTs, nowMs);
    au.keyframe = this.#hasKey;
    au.data = this.#buf.subarray(0, this.#len);
    if (this.#hasKey) {
      c.keyframes++;
      c.lastKeyframeMs = au.timeMs;
      const needPs = !this.#hasSps || !this.#hasPps || (this.codec === 'h265' && !this.#hasVps);
      if (needPs) au.data = this.#withParameterSets();
    }
    this.#sink.onAccessUnit(au);
  }

  #withParameterSets(): Uint8Array {
    let need = this.#len;
    for (const p of [this.#vps, this.#sps, this.#pps]) if (p) need += 4 + p.length;
    if (this.#out.length < need) this.#out = new Uint8Array(need * 2);
    let o = 0;
    for (const p of [this.#vps, this.#sps, this.#pps]) {
      if (!p) continue;
      this.#out.set(START_CODE, o);
      this.#out.set(p, o + 4);
      o += 4 + p.length;
    }
    this.#out.set(this.#buf.subarray(0, this.#len), o);
    return this.#out.subarray(0, o + this.#len);
  }

  /** RTP clock → per-camera monotonic ms, anchored to the wall clock at the first access unit. */
  #mapTime(ts: number, nowMs: number): number {
    if (this.#wallBase < 0) {
      this.#wallBase = nowMs;
      this.#lastTs = ts;
      this.#extTs = 0;
      this.#lastTimeMs = nowMs;
      return nowMs;
    }
    const diff = (ts - this.#lastTs) | 0; // signed 32-bit difference unwraps the clock
    this.#extTs += diff;
    this.#lastTs = ts;
    if (diff === 0) { // a server that stamps every frame alike: arrival time is the best we have
      const t0 = Math.max(nowMs, this.#lastTimeMs);
      this.#lastTimeMs = t0;
      this.#wallBase = t0 - (this.#extTs * 1000) / this.clockRate;
      return t0;
    }
    let t = this.#wallBase + (this.#extTs * 1000) / this.clockRate;
    if (Math.abs(t - nowMs) > MAX_DRIFT_MS) { // the server restarted its clock: re-anchor
      this.#wallBase = nowMs - (this.#extTs * 1000) / this.clockRate;
      t = nowMs;
    }
    if (t < this.#lastTimeMs) t = this.#lastTimeMs;
    this.#lastTimeMs = t;
    return t;
  }

  #ensure(extra: number): void {
    if (this.#len + extra <= this.#buf.length) return;
    if (this.#len + extra > MAX_ACCESS_UNIT_BYTES) {
      const bytes = this.#len + extra;
      this.#len = 0;
      this.#open = false;
      throw new RtspOversizeError('an access unit', bytes, MAX_ACCESS_UNIT_BYTES, { cameraId: this.#cameraId });
    }
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + extra));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  #writeStart(): void {
    this.#ensure(4);
    const b = this.#buf;
    b[this.#len] = 0; b[this.#len + 1] = 0; b[this.#len + 2] = 0; b[this.#len + 3] = 1;
    this.#len += 4;
  }

  #write1(v: number): void {
    this.#ensure(1);
    this.#buf[this.#len++] = v;
  }

  #write(p: Uint8Array, s: number, e: number): void {
    this.#ensure(e - s);
    this.#buf.set(p.subarray(s, e), this.#len);
    this.#len += e - s;
  }
}
