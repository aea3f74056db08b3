import { RtspOversizeError, RtspProtocolError } from '../errors.ts';

const DOLLAR = 0x24;
const MAX_HEADER_BYTES = 64 * 1024;
/** An RTSP message body (an SDP, a GET_PARAMETER answer) is a few kilobytes; a `Content-Length` above this is refused, not waited for. */
export const MAX_BODY_BYTES = 256 * 1024;

/** Where the framing hands what it found; `interleaved` is called per RTP packet, with a view into the receive buffer. */
export interface FramingSink {
  interleaved(channel: number, b: Uint8Array, offset: number, length: number): void;
  response(head: string, body: string): void;
  request(head: string): void;
}

/**
 * The receive side of RTSP over TCP: one growing buffer, cut into interleaved `$` frames
 * (RFC 2326 §10.12) and RTSP messages (responses, or requests a server sends), skipping garbage
 * up to the next plausible frame header. A byte-level loop over a `Uint8Array`, no copies per packet.
 * Bounded: a header over 64 KiB or a body over `MAX_BODY_BYTES` fails the camera, so the buffer
 * never holds more than one of those plus one interleaved frame (at most 64 KiB).
 */
export class RtspFraming {
  /** Bytes skipped while looking for the next frame. */
  garbageBytes = 0;
  #rx = new Uint8Array(64 * 1024);
  #rxLen = 0;
  readonly #sink: FramingSink;
  readonly #cameraId: string;

  constructor(cameraId: string, sink: FramingSink) {
    this.#cameraId = cameraId;
    this.#sink = sink;
  }

  /** Appends bytes from the socket and hands on every complete frame; throws `RtspProtocolError` on a malformed stream. */
  push(chunk: Uint8Array): void {
    const need = this.#rxLen + chunk.length;
    if (need > this.#rx.length) {
      const next = new Uint8Array(Math.max(need, this.#rx.length * 2));
      next.set(this.#rx.subarray(0, this.#rxLen));
      this.#rx = next;
    }
    this.#rx.set(chunk, this.#rxLen);
    this.#rxLen = need;
    const pos = this.#parse();
    if (pos >= this.#rxLen) this.#rxLen = 0;
    else if (pos > 0) {
      this.#rx.copyWithin(0, pos, this.#rxLen);
      this.#rxLen -= pos;
    }
    // A buffer grown by one huge frame shrinks back once drained.
    if (this.#rxLen === 0 && this.#rx.length > 1024 * 1024) this.#rx = new Uint8Array(64 * 1024);
  }

  /** Forgets a partial frame (the socket closed). */
  reset(): void {
    this.#rxLen = 0;
  }

  /** Consumes complete interleaved frames and RTSP messages; returns the first unconsumed offset. */
  #parse(): number {
    const b = this.#rx;
    const end = this.#rxLen;
    let pos = 0;
    while (pos < end) {
      const c = b[pos]!;
      if (c === DOLLAR) {
        if (pos + 4 > end) break;
        const ch = b[pos + 1]!;
        const n = (b[pos + 2]! << 8) | b[pos + 3]!;
        if (pos + 4 + n > end) break;
        this.#sink.interleaved(ch, b, pos + 4, n);
        pos += 4 + n;
        continue;
      }
      if (c >= 0x41 && c <= 0x5a) { // 'A'..'Z': an RTSP response or a server request
        // Junk that only starts with a capital letter is skipped now, not waited on for 64 KiB.
        if (!plausibleHead(b, pos, end)) {
          pos = this.#resync(pos + 1, end);
          continue;
        }
        const headEnd = findHeaderEnd(b, pos, end);
        if (headEnd < 0) {
          if (end - pos > MAX_HEADER_BYTES) throw new RtspOversizeError('an RTSP header', end - pos, MAX_HEADER_BYTES, { cameraId: this.#cameraId });
          break;
        }
        const head = Buffer.from(b.buffer, b.byteOffset + pos, headEnd - pos).toString('latin1');
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const bodyLen = cl ? Number(cl[1]) : 0;
        if (bodyLen > MAX_BODY_BYTES) throw new RtspOversizeError('an RTSP message body', bodyLen, MAX_BODY_BYTES, { cameraId: this.#cameraId });
        const msgEnd = headEnd + 4 + bodyLen;
        if (msgEnd > end) break;
        if (head.startsWith('RTSP/')) {
          this.#sink.response(head, Buffer.from(b.buffer, b.byteOffset + headEnd + 4, bodyLen).toString('utf8'));
        } else if (/^[A-Z_]+ \S+ RTSP\/1\.0/.test(head)) {
          this.#sink.request(head);
        } else {
          pos = this.#resync(pos + 1, end);
          continue;
        }
        pos = msgEnd;
        continue;
      }
      pos = this.#resync(pos, end);
    }
    return pos;
  }

  /**
   * Skips garbage up to the next plausible interleaved frame header or RTSP response: a camera
   * that sends junk before an answer (seen from the fuzz test's hostile camera) is still
   * answered, instead of timing out the request the answer was for.
   */
  #resync(from: number, end: number): number {
    const b = this.#rx;
    let p = from;
    while (p < end && !(b[p] === DOLLAR && (p + 1 >= end || b[p + 1]! <= 3)) && !(b[p] === R && startsResponse(b, p, end))) p++;
    this.garbageBytes += p - from;
    return p;
  }
}

const R = 0x52;
const RESPONSE = [0x52, 0x54, 0x53, 0x50, 0x2f]; // 'RTSP/'

/** Whether an RTSP message starts at `p` (`RTSP/`, or a method name and a space), or could once more bytes come. */
function plausibleHead(b: Uint8Array, p: number, end: number): boolean {
  if (startsResponse(b, p, end)) return true;
  for (let i = p; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20) return i > p;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x5f) || i - p >= MAX_METHOD_LENGTH) return false;
  }
  return true;
}

/** GET_PARAMETER, SET_PARAMETER, ANNOUNCE, REDIRECT: the longest method names a server sends are 13 letters. */
const MAX_METHOD_LENGTH = 20;

/** Whether `RTSP/` starts at `p`, or could once more bytes come. */
function startsResponse(b: Uint8Array, p: number, end: number): boolean {
  for (let i = 0; i < RESPONSE.length; i++) {
    if (p + i >= end) return true;
    if (b[p + i] !== RESPONSE[i]) return false;
  }
  return true;
}

function findHeaderEnd(b: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 3 < end; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}
