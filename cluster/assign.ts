/** 32-bit FNV-1a, enough to spread ids evenly. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Which node should ingest each camera: rendezvous hashing with bounded loads. Every node
 * computes the same answer from the same live-node list, no node gets more than
 * ceil(cameras / nodes), and a join or a death moves few cameras beyond the fair share.
 */
export function assignCameras(cameraIds: readonly string[], nodeIds: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (nodeIds.length === 0) return out;
  const nodes = [...nodeIds].sort();
  const nodeHash = nodes.map(fnv1a);
  const cap = Math.ceil(cameraIds.length / nodes.length);
  const load = new Array<number>(nodes.length).fill(0);
  // A fixed order (by camera hash) makes the bounded-load overflow the same on every node.
  const cams = [...cameraIds].map((id) => ({ id, h: fnv1a(id) })).sort((a, b) => a.h - b.h || (a.id < b.id ? -1 : 1));
  const ranks = nodes.map((_, i) => i);
  for (const cam of cams) {
    ranks.sort((a, b) => mix(nodeHash[b]!, cam.h) - mix(nodeHash[a]!, cam.h) || a - b);
    const pick = ranks.find((i) => load[i]! < cap)!;
    load[pick]!++;
    out.set(cam.id, nodes[pick]!);
  }
  return out;
}
