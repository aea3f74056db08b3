import type { VideoCodec } from '../ingest/index.ts';
import { nalType, type ClipFrame } from './clip.ts';

/**
 * One frame as ready-to-send RTSP interleaved RTP packets (`$`, channel 0, length, RTP header,
 * payload). Sequence number, timestamp and SSRC are patched per send at `rtp[i]` offsets.
 */
export interface FrameTemplate {
  bytes: Uint8Array;
  rtp: Int32Array;
  keyframe: boolean;
}

const MTU = 1400;

/** Packetises one frame: small NALs aggregated (STAP-A / AP), large ones fragmented (FU-A / FU). */
export function packetizeFrame(codec: VideoCodec, frame: ClipFrame, payloadType = 96): FrameTemplate {
  const payloads: Uint8Array[] = [];
  let agg: Uint8Array[] = [];
  let aggSize = 0;
  const flushAgg = (): void => {
    if (agg.length === 0) return;
    if (agg.length === 1) payloads.push(agg[0]!);
    else {
      const hdrLen = codec === 'h264' ? 1 : 2;
      const p = new Uint8Array(hdrLen + aggSize + agg.length * 2);
      if (codec === 'h264') {
        let nri = 0;
        for (const n of agg) nri = Math.max(nri, n[0]! & 0x60);
        p[0] = nri | 24;
      } else {
        p[0] = 48 << 1;
        p[1] = 1;
      }
      let o = hdrLen;
      for (const n of agg) { p[o] = n.length >> 8; p[o + 1] = n.length & 0xff; p.set(n, o + 2); o += 2 + n.length; }
      payloads.push(p);
    }
    agg = [];
    aggSize = 0;
  };
  for (const nal of frame.nals) {
    if (nal.length + 2 + aggSize + 2 < MTU && nal.length < 400) {
      agg.push(nal);
      aggSize += nal.length;
      continue;
    }
    flushAgg();
    if (nal.length <= MTU) { payloads.push(nal); continue; }
    const t = nalType(codec, nal[0]!);
    const hdrLen = codec === 'h264' ? 1 : 2;
    for (let off = hdrLen; off < nal.length; off += MTU) {
      const chunk = nal.subarray(off, Math.min(nal.length, off + MTU));
      const first = off === hdrLen;
      const last = off + MTU >= nal.length;
      const fuBits = (first ? 0x80 : 0) | (last ? 0x40 : 0);
      let p: Uint8Array;
      if (codec === 'h264') {
        p = new Uint8Array(2 + chunk.length);
        p[0] = (nal[0]! & 0xe0) | 28;
        p[1] = fuBits | t;
        p.set(chunk, 2);
      } else {
        p = new Uint8Array(3 + chunk.length);
        p[0] = (nal[0]! & 0x81) | (49 << 1);
        p[1] = nal[1]!;
        p[2] = fuBits | t;
        p.set(chunk, 3);
      }
      payloads.push(p);
    }
  }
  flushAgg();
  const total = payloads.reduce((n, p) => n + 16 + p.length, 0);
  const bytes = new Uint8Array(total);
  const rtp = new Int32Array(payloads.length);
  let o = 0;
  payloads.forEach((p, i) => {
    const len = 12 + p.length;
    bytes[o] = 0x24; bytes[o + 1] = 0; bytes[o + 2] = len >> 8; bytes[o + 3] = len & 0xff;
    rtp[i] = o + 4;
    bytes[o + 4] = 0x80;
    bytes[o + 5] = (i === payloads.length - 1 ? 0x80 : 0) | payloadType;
    bytes.set(p, o + 16);
    o += 4 + len;
  });
  return { bytes, rtp, keyframe: frame.keyframe };
}

/** Writes sequence numbers (returns the next one), timestamp and SSRC into a template copy. */
export function stampFrame(t: FrameTemplate, out: Uint8Array, seq: number, ts: number, ssrc: number): number {
  for (let i = 0; i < t.rtp.length; i++) {
    const r = t.rtp[i]!;
    out[r + 2] = (seq >> 8) & 0xff; out[r + 3] = seq & 0xff;
    out[r + 4] = ts >>> 24; out[r + 5] = (ts >>> 16) & 0xff; out[r + 6] = (ts >>> 8) & 0xff; out[r + 7] = ts & 0xff;
    out[r + 8] = ssrc >>> 24; out[r + 9] = (ssrc >>> 16) & 0xff; out[r + 10] = (ssrc >>> 8) & 0xff; out[r + 11] = ssrc & 0xff;
    seq = (seq + 1) & 0xffff;
  }
  return seq;
}
