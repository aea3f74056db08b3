import { describe, expect, it } from 'vitest';
import { reverifyDue } from './index.ts';

describe('reverifyDue', () => {
  it('picks the last sample before the camera would go reverify without an inference', () => {
    const S = 1000, reverify = 60 * S;
    // Inferred at 0, samples every 10 s: the one at 60 s is on the deadline, the gap stays 60 s.
    const every10 = [10, 20, 30, 40, 50, 60].map((t) => reverifyDue(t * S, 0, (t - 10) * S, reverify));
    expect(every10).toEqual([false, false, false, false, false, true]);
    // Every 10.5 s: the one at 52.5 s, as the next (63 s) would come past it.
    const every10_5 = [42, 52.5].map((t) => reverifyDue(t * S, 0, (t - 10.5) * S, reverify));
    expect(every10_5).toEqual([false, true]);
    // No previous sample (or a long outage): the first at or past the deadline.
    expect(reverifyDue(59 * S, 0, Number.NEGATIVE_INFINITY, reverify)).toBe(false);
    expect(reverifyDue(60 * S, 0, Number.NEGATIVE_INFINITY, reverify)).toBe(true);
    expect(reverifyDue(59 * S, 0, -200 * S, reverify)).toBe(false);
    // Never inferred: due at once.
    expect(reverifyDue(5 * S, Number.NEGATIVE_INFINITY, 0, reverify)).toBe(true);
  });
});
