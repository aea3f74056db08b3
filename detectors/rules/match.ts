/**
 * One-to-one greedy matching, as the trackers, the rules and the checks pair what they know with
 * what a sample shows: candidate `pairs` taken best first (`order`, a sort comparator; it sorts
 * `pairs` in place, ties keeping their order), each left (`left(p)`) and each right (`right(p)`)
 * at most once; `take` is called with each pair taken, in that order. Returns the rights taken.
 */
export function greedyMatch<P, R>(pairs: P[], order: (x: P, y: P) => number, left: (p: P) => unknown, right: (p: P) => R, take: (p: P) => void): Set<R> {
  pairs.sort(order);
  const usedLeft = new Set<unknown>(), usedRight = new Set<R>();
  for (const p of pairs) {
    const l = left(p), r = right(p);
    if (usedLeft.has(l) || usedRight.has(r)) continue;
    usedLeft.add(l);
    usedRight.add(r);
    take(p);
  }
  return usedRight;
}
