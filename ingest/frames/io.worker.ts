/**
 * The decoder I/O thread: writes each decoder's keyframes to its ffmpeg and reads the frames
 * back whole, both over Unix sockets ffmpeg listens on, and hands the frames to the main thread,
 * transferred. A frame (691 KB at 640×360) takes several socket buffers (208 KB each) to come
 * out, and eight keyframes in flight are more than a pipe holds: done on a busy main thread,
 * every one of those waited for its event loop, and the decoders sat idle most of the time.
 */
import { connect, type Socket } from 'node:net';
import { parentPort } from 'node:worker_threads';
import type { FromIo, ToIo } from './protocol.ts';

interface Decoder {
  input: Socket | undefined;
  /** Written before the input socket was connected; the last buffer of each write is marked. */
  pending: { data: Uint8Array; last: boolean }[];
  output: Socket | undefined;
  frame: Uint8Array;
  filled: number;
  closed: boolean;
}

const port = parentPort!;
const decoders = new Map<number, Decoder>();
const post = (m: FromIo, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

/**
 * Connects to `path` once ffmpeg listens on it (the input at once, the output when the first
 * keyframe has told ffmpeg the stream's parameters), retrying until then.
 */
function attach(id: number, d: Decoder, path: string, withinMs: number, onread: { buffer: () => Uint8Array; callback: (n: number) => boolean } | undefined, onConnect: (s: Socket) => void): void {
  const since = performance.now();
  const attempt = (): void => {
    if (d.closed) return;
    const sock: Socket = onread ? connect({ path, onread }) : connect({ path });
    let connected = false;
    sock.once('connect', () => {
      if (d.closed) { sock.destroy(); return; }
      connected = true;
      onConnect(sock);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      sock.destroy();
      if (d.closed) return;
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') && performance.now() - since < withinMs) {
        setTimeout(attempt, 5);
        return;
      }
      fail(id, d, `socket ${path}: ${err.message}`);
    });
  };
  attempt();
}

function open(m: Extract<ToIo, { type: 'open' }>): void {
  const d: Decoder = { input: undefined, pending: [], output: undefined, frame: new Uint8Array(m.frameBytes), filled: 0, closed: false };
  decoders.set(m.id, d);
  attach(m.id, d, m.inputPath, m.connectWithinMs, undefined, (sock) => {
    d.input = sock;
    for (const b of d.pending.splice(0)) write(m.id, sock, b.data, b.last);
  });
  attach(m.id, d, m.outputPath, m.connectWithinMs, { buffer: () => d.frame.subarray(d.filled), callback: (n) => { onBytes(m.id, d, n); return true; } }, (sock) => {
    d.output = sock;
    sock.on('end', () => fail(m.id, d, `socket ${m.outputPath}: closed by ffmpeg`));
    post({ type: 'connected', id: m.id });
  });
}

/** Writes to a decoder's input; once the last buffer of a write is in the socket, says so. */
function write(id: number, sock: Socket, data: Uint8Array, last: boolean): void {
  if (!last) { sock.write(data); return; }
  sock.write(data, (err) => { if (!err) post({ type: 'written', id }); });
}

function onBytes(id: number, d: Decoder, n: number): void {
  d.filled += n;
  if (d.filled < d.frame.length) return;
  const rgb = d.frame;
  d.frame = new Uint8Array(rgb.length);
  d.filled = 0;
  post({ type: 'frame', id, rgb }, [rgb.buffer as ArrayBuffer]);
}

function fail(id: number, d: Decoder, message: string): void {
  if (d.closed) return;
  const connected = d.output !== undefined;
  close(id);
  post({ type: 'error', id, message, connected });
}

function close(id: number): void {
  const d = decoders.get(id);
  if (!d) return;
  d.closed = true;
  d.input?.destroy();
  d.output?.destroy();
  decoders.delete(id);
}

port.on('message', (m: ToIo) => {
  if (m.type === 'open') open(m);
  else if (m.type === 'write') {
    const d = decoders.get(m.id);
    if (!d) return;
    m.data.forEach((b, i) => {
      const last = i === m.data.length - 1;
      if (d.input) write(m.id, d.input, b, last);
      else d.pending.push({ data: b, last });
    });
  } else close(m.id);
});
