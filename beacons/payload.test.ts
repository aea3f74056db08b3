import { describe, it, expect } from 'vitest';
import { parseLocation, parseReport, parseStatus, type Limits } from './payload.ts';
import { RecentKeys } from './recent-keys.ts';

const limits: Limits = { maxPayloadBytes: 1024, photoMaxBytes: 2048, futureToleranceS: 300, bounds: [125, 43, 126, 44], categories: new Set(['sanitation']) };
const now = Date.UTC(2026, 10, 22, 8);
const b = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

describe('terminal payloads', () => {
  it('accepts an OwnTracks location with extra fields and numeric strings, and rejects a payload posing as a rejection', () => {
    const p = parseLocation(b({ _type: 'location', lat: 43.5, lon: 125.5, tst: now / 1000, acc: '12', tid: 'ab', BSSID: 'x' }), now, limits);
    expect(p).toMatchObject({ kind: 'location', lat: 43.5, lon: 125.5, acc: 12, vel: null, conn: '' });
    expect(parseLocation(b({ kind: 'rejected', reason: 'x' }), now, limits)).toMatchObject({ kind: 'rejected', reason: 'missing_field' });
  });

  it('lets a timestamp up to the tolerance into the future, and no further', () => {
    expect(parseLocation(b({ _type: 'location', lat: 43.5, lon: 125.5, tst: now / 1000 + 299 }), now, limits).kind).toBe('location');
    expect(parseLocation(b({ _type: 'location', lat: 43.5, lon: 125.5, tst: now / 1000 + 301 }), now, limits)).toMatchObject({ reason: 'future_timestamp' });
  });

  it('reads OwnTracks lwt as offline and ignores its other message types on the OwnTracks topic only', () => {
    expect(parseLocation(b({ _type: 'lwt', tst: 1 }), now, limits, true)).toMatchObject({ kind: 'status', online: false });
    expect(parseLocation(b({ _type: 'transition' }), now, limits, true)).toMatchObject({ kind: 'ignored' });
    expect(parseLocation(b({ _type: 'transition' }), now, limits, false)).toMatchObject({ reason: 'bad_field' });
  });

  it('reads status as plain text or JSON', () => {
    expect(parseStatus(b('offline'), limits)).toMatchObject({ kind: 'status', online: false });
    expect(parseStatus(b({ state: 'online', tst: 5 }), limits)).toMatchObject({ kind: 'status', online: true, tst: 5 });
    expect(parseStatus(b('maybe'), limits)).toMatchObject({ reason: 'not_json' });
  });

  it('takes a data-URL photo and refuses a non-JPEG one', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).toString('base64');
    expect(parseReport(b({ category: 'sanitation', lat: 43.5, lon: 125.5, tst: 1, photo: `data:image/jpeg;base64,${jpeg}` }), now, limits)).toMatchObject({ kind: 'report', text: '' });
    expect(parseReport(b({ category: 'sanitation', lat: 43.5, lon: 125.5, tst: 1, photo: 12 }), now, limits)).toMatchObject({ reason: 'bad_photo' });
  });

  it('remembers the last N keys only', () => {
    const r = new RecentKeys(2);
    expect([r.add('a'), r.add('a'), r.add('b'), r.add('c'), r.add('a')]).toEqual([true, false, true, true, true]);
    expect(r.size).toBe(2);
  });
});
