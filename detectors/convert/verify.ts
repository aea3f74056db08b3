import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelConvertError } from '../errors.ts';

export interface VerifyResult {
  /** Largest absolute difference over every output element. */
  maxAbsDiff: number;
  outputs: { name: string; dims: number[]; maxAbsDiff: number }[];
  tfjsMs: number;
  onnxMs: number;
}

/**
 * Runs the TF.js graph (pure-JS CPU backend, slow: seconds) and the ONNX file on the same
 * deterministic input and compares every output.
 */
export async function verifyAgainstTfjs(jsonFile: string, onnxFile: string): Promise<VerifyResult> {
  let tf: typeof import('@tensorflow/tfjs-core');
  let converter: typeof import('@tensorflow/tfjs-converter');
  try {
    tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    converter = await import('@tensorflow/tfjs-converter');
  } catch (cause) {
    throw new ModelConvertError('verification needs the npm packages @tensorflow/tfjs-core, -converter and -backend-cpu (dev dependencies): run `npm ci`', { cause });
  }
  const ort = await import('onnxruntime-node');
  await tf.setBackend('cpu');
  const json = JSON.parse(readFileSync(jsonFile, 'utf8'));
  const weightSpecs = json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  const shards = json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths.map((p) => readFileSync(join(dirname(jsonFile), p))));
  const buf = Buffer.concat(shards);
  const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const model = await converter.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format, signature: json.signature }));

  const session = await ort.InferenceSession.create(onnxFile, { intraOpNumThreads: 1 });
  const inputName = session.inputNames[0]!;
  const dims = Object.values(json.signature.inputs as Record<string, { tensorShape: { dim: { size: string }[] } }>)[0]!.tensorShape.dim.map((d) => Math.max(1, Number(d.size)));
  const n = dims.reduce((a: number, b: number) => a * b, 1);
  const x = new Float32Array(n);
  // A smooth pattern with the spread of a normalised image (about -2..2).
  for (let i = 0; i < n; i++) x[i] = 2 * Math.sin(i * 0.0007) * Math.cos(i * 0.00013);

  const outNames = Object.values(json.signature.outputs as Record<string, { name: string }>).map((o) => o.name);
  let t0 = performance.now();
  const input = tf.tensor(x, dims);
  const tfOut = (await model.executeAsync(input, outNames)) as import('@tensorflow/tfjs-core').Tensor[];
  const tfjsMs = performance.now() - t0;
  t0 = performance.now();
  const onnxOut = await session.run({ [inputName]: new ort.Tensor('float32', x, dims) });
  const onnxMs = performance.now() - t0;

  const outputs = outNames.map((name, k) => {
    const a = tfOut[k]!.dataSync() as Float32Array;
    const key = name.replace(/:0$/, '');
    const b = onnxOut[key]!.data as Float32Array;
    if (a.length !== b.length) throw new ModelConvertError(`output ${key}: TF.js has ${a.length} values, ONNX ${b.length}`);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    return { name: key, dims: Array.from(onnxOut[key]!.dims), maxAbsDiff: d };
  });
  input.dispose();
  tf.dispose(tfOut);
  model.dispose();
  await session.release();
  return { maxAbsDiff: Math.max(...outputs.map((o) => o.maxAbsDiff)), outputs, tfjsMs, onnxMs };
}
