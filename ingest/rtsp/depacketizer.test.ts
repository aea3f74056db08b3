import { describe, expect, it } from 'vitest';
import { Depacketizer, type AccessUnit, type VideoCodec } from './depacketizer.ts';
import { packetizeFrame, stampFrame, splitAnnexB } from '../../sim/index.ts';

/** A NAL of `size` bytes with the given header, filled with a pattern free of start codes. */
function nal(codec: VideoCodec, type: number, size: number, seed = 1): Uint8Array {
  const n = new Uint8Array(size);
  if (codec === 'h264') n[0] = 0x60 | type;
  else { n[0] = type << 1; n[1] = 1; }
  for (let i = codec === 'h264' ? 1 : 2; i < size; i++) n[i] = ((i * 7 + seed) % 250) + 3;
  if (codec === 'h264' && size > 1) n[1] = n[1]! | 0x80; // first_mb_in_slice = 0
  if (codec === 'h265' && size > 2) n[2] = n[2]! | 0x80; // first_slice_segment_in_pic_flag
  return n;
}

function collect(codec: VideoCodec, ps: Uint8Array[] = [], keyframesOnly = false) {
  const aus: { data: Uint8Array; keyframe: boolean; timeMs: number }[] = [];
  const d = new Depacketizer(codec, 96, 90_000, { keyframesOnly, onAccessUnit: (au: AccessUnit) => aus.push({ data: au.data.slice(), keyframe: au.keyframe, timeMs: au.timeMs }) }, ps);
  return { d, aus };
}

/** Splits a stamped frame template into its RTP packets (without the 4-byte interleave header). */
function packets(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length;) {
    const n = (bytes[o + 2]! << 8) | bytes[o + 3]!;
    out.push(bytes.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}

function frames(codec: VideoCodec) {
  const ps = codec === 'h264' ? [nal(codec, 7, 20), nal(codec, 8, 6)] : [nal(codec, 32, 24), nal(codec, 33, 40), nal(codec, 34, 8)];
  const key = nal(codec, codec === 'h264' ? 5 : 19, 5000, 3); // fragmented
  const p1 = nal(codec, 1, 900, 5); // single NAL
  const p2 = nal(codec, 1, 120, 9); // aggregated with nothing: single
  return { ps, list: [{ nals: [...ps, key], keyframe: true }, { nals: [p1], keyframe: false }, { nals: [p2], keyframe: false }] };
}

function annexB(nals: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(nals.reduce((n, x) => n + 4 + x.length, 0));
  let o = 0;
  for (const x of nals) { out.set([0, 0, 0, 1], o); out.set(x, o + 4); o += 4 + x.length; }
  return out;
}

describe.each(['h264', 'h265'] as const)('%s depacketiser', (codec) => {
  it('rebuilds access units from single NAL, aggregation and fragmentation packets', () => {
    const { list } = frames(codec);
    const { d, aus } = collect(codec);
    let seq = 65530; // wraps during the test
    let ts = 0xffff_ff00; // and so does the clock
    for (const f of list) {
      const t = packetizeFrame(codec, f);
      const out = t.bytes.slice();
      seq = stampFrame(t, out, seq, ts, 42);
      ts = (ts + 6000) >>> 0;
      for (const p of packets(out)) d.push(p, 0, p.length, 1_000_000);
    }
    expect(aus.map((a) => a.keyframe)).toEqual([true, false, false]);
    list.forEach((f, i) => expect(Buffer.from(aus[i]!.data).equals(Buffer.from(annexB(f.nals)))).toBe(true));
    // 6000 ticks of a 90 kHz clock are 66.7 ms, across the 32-bit wrap.
    expect(aus[1]!.timeMs - aus[0]!.timeMs).toBeCloseTo(66.67, 1);
    expect(d.counters).toMatchObject({ accessUnits: 3, keyframes: 1, gaps: 0, droppedAccessUnits: 0 });
  });

  it('drops the access unit a sequence gap damaged, counts it, and goes on', () => {
    const { list } = frames(codec);
    const { d, aus } = collect(codec);
    let seq = 100;
    let ts = 1000;
    list.forEach((f, i) => {
      const t = packetizeFrame(codec, f);
      const out = t.bytes.slice();
      seq = stampFrame(t, out, seq, ts, 42);
      ts += 6000;
      const ps = packets(out);
      // Lose the second fragment of the keyframe.
      ps.forEach((p, k) => { if (!(i === 0 && k === 2)) d.push(p, 0, p.length, 1_000_000); });
    });
    expect(d.counters.gaps).toBe(1);
    expect(d.counters.droppedAccessUnits).toBe(1);
    expect(aus.map((a) => a.keyframe)).toEqual([false, false]);
  });

  it('hands a keyframes-only sink the same keyframes, byte for byte, and still counts the rest', () => {
    const { ps, list } = frames(codec);
    const bigP = { nals: [nal(codec, codec === 'h264' ? 6 : 39, 30, 2), nal(codec, 1, 4000, 7)], keyframe: false }; // SEI + a fragmented slice
    const key2 = { nals: [...ps, nal(codec, codec === 'h264' ? 5 : 19, 3000, 8)], keyframe: true };
    const stream = [...list, bigP, key2, bigP];
    const feed = (d: Depacketizer, lose?: { frame: number; packet: number }) => {
      let seq = 7;
      let ts = 0;
      stream.forEach((f, i) => {
        const t = packetizeFrame(codec, f);
        const out = t.bytes.slice();
        seq = stampFrame(t, out, seq, ts, 42);
        ts += 6000;
        packets(out).forEach((p, k) => { if (!(lose?.frame === i && lose.packet === k)) d.push(p, 0, p.length, 1_000_000); });
      });
    };
    const all = collect(codec);
    const keys = collect(codec, [], true);
    feed(all.d);
    feed(keys.d);
    const hex = (a: { data: Uint8Array }) => Buffer.from(a.data).toString('hex');
    expect(keys.aus.map((a) => a.keyframe)).toEqual([true, true]);
    expect(keys.aus.map(hex)).toEqual(all.aus.filter((a) => a.keyframe).map(hex));
    expect(keys.d.counters).toMatchObject({ accessUnits: 6, keyframes: 2, droppedAccessUnits: 0 });
    expect(keys.d.counters).toEqual(all.d.counters);

    // A gap inside a skipped access unit is still a damaged access unit.
    const lossy = collect(codec, [], true);
    feed(lossy.d, { frame: 3, packet: 2 });
    expect(lossy.d.counters).toMatchObject({ gaps: 1, droppedAccessUnits: 1, accessUnits: 5, keyframes: 2 });
    expect(lossy.aus.map(hex)).toEqual(keys.aus.map(hex));
  });

  it('adds the parameter sets to a keyframe that came without them', () => {
    const { ps } = frames(codec);
    const { d, aus } = collect(codec, ps); // as from the SDP's sprop parameters
    const key = nal(codec, codec === 'h264' ? 5 : 19, 300, 4);
    const t = packetizeFrame(codec, { nals: [key], keyframe: true });
    const out = t.bytes.slice();
    stampFrame(t, out, 1, 1, 1);
    for (const p of packets(out)) d.push(p, 0, p.length, 5);
    expect(aus).toHaveLength(1);
    const got = splitAnnexB(aus[0]!.data);
    expect(got.map((n) => Buffer.from(n).toString('hex'))).toEqual([...ps, key].map((n) => Buffer.from(n).toString('hex')));
  });

  it('survives garbage: bad versions, truncated packets, broken aggregation', () => {
    const { d, aus } = collect(codec);
    const junk = [Uint8Array.of(1, 2, 3), new Uint8Array(12), Uint8Array.of(0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, codec === 'h264' ? 24 : 96, 0, 0xff, 1)];
    for (let i = 0; i < 200; i++) junk.push(Uint8Array.from({ length: 5 + (i % 60) }, (_, k) => (k === 0 ? 0x80 : k === 1 ? 96 : (i * 31 + k * 17) & 0xff)));
    for (const j of junk) d.push(j, 0, j.length, 10);
    expect(d.counters.badPackets).toBeGreaterThan(0);
    expect(aus.every((a) => a.data.length > 0)).toBe(true);
  });

  it('fails the camera with a reason on an access unit that never ends, instead of growing without limit', () => {
    const { d, aus } = collect('h264');
    // FU-A fragments of one IDR slice, one timestamp, never a marker nor an end bit.
    const pkt = new Uint8Array(12 + 2 + 1400);
    pkt[0] = 0x80; pkt[1] = 96; // no marker
    pkt[12] = 0x7c; // FU indicator: NRI 3, type 28
    for (let k = 14; k < pkt.length; k++) pkt[k] = (k % 250) + 3;
    let err: unknown;
    let sent = 0;
    for (let seq = 0; seq < 20_000 && !err; seq++, sent++) {
      pkt[2] = seq >> 8; pkt[3] = seq & 0xff;
      pkt[13] = seq === 0 ? 0x85 : 0x05; // start bit on the first fragment only
      try { d.push(pkt, 0, pkt.length, 1000); } catch (e) { err = e; }
    }
    expect(err).toMatchObject({ code: 'INGEST_RTSP_OVERSIZE', reason: 'too large' });
    expect((err as Error).message).toMatch(/access unit of \d+ bytes is over the limit of 16777216/);
    // It gave up at the bound (16 MiB / 1400 B a fragment), not after everything was sent.
    expect(sent).toBeLessThan(12_100);
    expect(aus).toEqual([]);
  });
});
