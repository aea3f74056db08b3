import type { OnnxNode, OnnxTensor } from './onnx-proto.ts';

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

function permOf(n: OnnxNode): number[] {
  const a = n.attrs.find((x) => x.name === 'perm');
  return a && 'ints' in a ? a.ints : [];
}

/** Peephole passes: compose transposes, drop identities, fold bias adds and zero pads into convs. */
export function optimise(nodes: OnnxNode[], inits: Map<string, OnnxTensor>, graphOutputs: Set<string>): void {
  const producer = (): Map<string, OnnxNode> => new Map(nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const consumers = (): Map<string, OnnxNode[]> => {
    const m = new Map<string, OnnxNode[]>();
    for (const n of nodes) for (const i of n.inputs) { if (!m.has(i)) m.set(i, []); m.get(i)!.push(n); }
    return m;
  };
  const rename = (from: string, to: string): void => {
    for (const n of nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  };
  const remove = (n: OnnxNode): void => { nodes.splice(nodes.indexOf(n), 1); };
  const single = (c: Map<string, OnnxNode[]>, t: string): boolean => (c.get(t)?.length ?? 0) === 1 && !graphOutputs.has(t);

  for (let changed = true; changed;) {
    changed = false;
    const prod = producer();
    const cons = consumers();
    for (const n of nodes) {
      if (n.opType !== 'Transpose') continue;
      const p = prod.get(n.inputs[0]!);
      if (!p || p.opType !== 'Transpose' || !single(cons, p.outputs[0]!)) continue;
      const p1 = permOf(p);
      const p2 = permOf(n);
      const composed = p2.map((i) => p1[i]!);
      remove(p);
      if (composed.every((v, i) => v === i) && !graphOutputs.has(n.outputs[0]!)) {
        remove(n);
        rename(n.outputs[0]!, p.inputs[0]!);
      } else {
        n.inputs = [p.inputs[0]!];
        n.attrs = [{ name: 'perm', ints: composed }];
      }
      changed = true;
      break;
    }
    if (changed) continue;
    // Conv -> Transpose(NHWC) -> Add(bias[C]) -> Transpose(NCHW)  =>  Conv with bias.
    for (const add of nodes) {
      if (add.opType !== 'Add') continue;
      const ti = add.inputs.findIndex((i) => prod.get(i)?.opType === 'Transpose');
      if (ti < 0) continue;
      const t1 = prod.get(add.inputs[ti]!)!;
      const bias = inits.get(add.inputs[1 - ti]!);
      const conv = prod.get(t1.inputs[0]!);
      const after = cons.get(add.outputs[0]!) ?? [];
      if (!conv || conv.opType !== 'Conv' || conv.inputs.length !== 2 || !bias || bias.dims.length !== 1) continue;
      if (permOf(t1).join() !== TO_NHWC.join() || !single(cons, conv.outputs[0]!) || !single(cons, t1.outputs[0]!)) continue;
      if (after.length !== 1 || after[0]!.opType !== 'Transpose' || permOf(after[0]!).join() !== TO_NCHW.join() || graphOutputs.has(add.outputs[0]!)) continue;
      const t2 = after[0]!;
      conv.inputs.push(bias.name);
      remove(t1);
      remove(add);
      remove(t2);
      if (graphOutputs.has(t2.outputs[0]!)) conv.outputs = [t2.outputs[0]!];
      else rename(t2.outputs[0]!, conv.outputs[0]!);
      changed = true;
      break;
    }
    if (changed) continue;
    // Pad with zeros on H and W only, feeding a Conv  =>  Conv pads.
    for (const pad of nodes) {
      if (pad.opType !== 'Pad' || pad.inputs.length !== 2) continue;
      const next = cons.get(pad.outputs[0]!) ?? [];
      if (next.length !== 1 || next[0]!.opType !== 'Conv' || graphOutputs.has(pad.outputs[0]!)) continue;
      const conv = next[0]!;
      const padsT = inits.get(pad.inputs[1]!);
      const convPads = conv.attrs.find((a) => a.name === 'pads');
      if (!padsT || !convPads || !('ints' in convPads) || convPads.ints.some((v) => v !== 0)) continue;
      const p = Array.from(new BigInt64Array(padsT.raw.slice().buffer), Number);
      if (p.length !== 8 || p[0] || p[1] || p[4] || p[5]) continue;
      convPads.ints = [p[2]!, p[3]!, p[6]!, p[7]!];
      conv.inputs[0] = pad.inputs[0]!;
      remove(pad);
      changed = true;
      break;
    }
  }
}
