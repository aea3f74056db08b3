import { connect, type Socket } from 'node:net';
import { Authenticator, parseChallenges } from './auth.ts';
import { parseSdp, resolveControl, type SdpVideo } from './sdp.ts';
import { Depacketizer, type AccessUnitSink, type VideoCodec } from './depacketizer.ts';
import { IngestError, RtspConnectError, RtspMediaError, RtspProtocolError, RtspStatusError, type FailReason } from '../errors.ts';

export interface RtspSessionOptions {
  cameraId: string;
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  sink: AccessUnitSink;
  /** Called once when a session that reached PLAY ends for any reason other than stop(). */
  onClose?: ((err: IngestError) => void) | undefined;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxRedirects?: number;
}

interface Response {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
  body: string;
}

interface Pending {
  method: string;
  url: string;
  resolve: (r: Response) => void;
  reject: (e: IngestError) => void;
  timer: NodeJS.Timeout;
}

export type SessionState = 'idle' | 'connecting' | 'streaming' | 'closed';

const DOLLAR = 0x24;
const MAX_HEADER_BYTES = 64 * 1024;
const USER_AGENT = 'gridwatch/0.1';
const SHARED_READ_BUFFER = new Uint8Array(64 * 1024);

function header(r: Response, name: string): string | undefined {
  return r.headers.get(name)?.[0];
}

function socketReason(err: NodeJS.ErrnoException): FailReason {
  switch (err.code) {
    case 'ECONNREFUSED': return 'refused';
    case 'ETIMEDOUT': return 'timeout';
    case 'ECONNRESET': case 'EPIPE': return 'closed by server';
    default: return 'unreachable';
  }
}

/**
 * One RTSP 1.0 session over TCP with interleaved RTP (RFC 2326 §10.12). `start()` runs
 * OPTIONS, DESCRIBE, SETUP and PLAY (following redirects and answering Basic/Digest
 * challenges) and resolves once media flows; access units then go to the sink.
 */
export class RtspSession {
  state: SessionState = 'idle';
  /** Wall time of the last byte received; the fleet's stall watchdog reads it. */
  lastDataMs = 0;
  codec: VideoCodec | undefined;
  depacketizer: Depacketizer | undefined;
  /** Bytes skipped while resynchronising on garbage. */
  garbageBytes = 0;
  private socket: Socket | undefined;
  private rx = new Uint8Array(64 * 1024);
  private rxLen = 0;
  private cseq = 0;
  private readonly pending = new Map<number, Pending>();
  private auth: Authenticator | undefined;
  private sessionId: string | undefined;
  private sessionTimeoutS = 60;
  private keepAlive: NodeJS.Timeout | undefined;
  private keepAliveMethod = 'OPTIONS';
  private videoChannel = 0;
  private url: string;
  private username: string | undefined;
  private password: string | undefined;
  private closedReported = false;
  private stopping = false;

  constructor(private readonly opts: RtspSessionOptions) {
    const u = new URL(opts.url);
    this.username = opts.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
    this.password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
    u.username = '';
    u.password = '';
    this.url = u.toString();
  }

  get cameraId(): string { return this.opts.cameraId; }

  async start(): Promise<void> {
    this.state = 'connecting';
    try {
      const redirects = this.opts.maxRedirects ?? 3;
      for (let hop = 0; ; hop++) {
        await this.connect();
        const r = await this.negotiate();
        if (r === 'playing') break;
        if (hop >= redirects) throw new RtspConnectError('redirect loop', `camera ${this.cameraId}: more than ${redirects} redirects`, { cameraId: this.cameraId });
        this.url = r;
        this.closeSocket();
      }
      this.state = 'streaming';
      const every = Math.max(1, Math.min(this.sessionTimeoutS * 500, 30_000));
      this.keepAlive = setInterval(() => this.sendKeepAlive(), every);
    } catch (err) {
      this.closeSocket();
      this.state = 'closed';
      throw err instanceof IngestError ? err : new RtspProtocolError(`camera ${this.cameraId}: ${(err as Error).message}`, { cause: err, cameraId: this.cameraId });
    }
  }

  /** TEARDOWN (best effort, bounded) and close. */
  async stop(): Promise<void> {
    if (this.state === 'closed') return;
    this.stopping = true;
    if (this.state === 'streaming' && this.socket && this.sessionId) {
      await Promise.race([
        this.request('TEARDOWN', this.url, {}).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    this.closeSocket();
    this.state = 'closed';
  }

  /** Closes without TEARDOWN (stall watchdog, faults). */
  destroy(): void {
    this.stopping = true;
    this.closeSocket();
    this.state = 'closed';
  }

  private connect(): Promise<void> {
    const u = new URL(this.url);
    const port = u.port ? Number(u.port) : 554;
    return new Promise((resolve, reject) => {
      // Reads land in one buffer shared by every session (each read is consumed at once), so
      // thousands of sockets allocate nothing per read.
      let sock: Socket | undefined = undefined;
      const onRead = (n: number, buf: Uint8Array): boolean => {
        if (sock !== undefined && this.socket === sock) this.onData(buf.subarray(0, n));
        return true;
      };
      sock = connect({ host: u.hostname, port, noDelay: true, onread: { buffer: SHARED_READ_BUFFER, callback: onRead } });
      this.socket = sock;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RtspConnectError('timeout', `camera ${this.cameraId}: no TCP connection to ${u.host} within ${this.opts.connectTimeoutMs ?? 5000} ms`, { cameraId: this.cameraId }));
      }, this.opts.connectTimeoutMs ?? 5000);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setKeepAlive(true, 30_000);
        resolve();
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const e = new RtspConnectError(socketReason(err), `camera ${this.cameraId}: ${u.host}: ${err.message}`, { cause: err, cameraId: this.cameraId });
        reject(e);
        this.fail(e);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        const e = new RtspConnectError('closed by server', `camera ${this.cameraId}: ${u.host} closed the connection`, { cameraId: this.cameraId });
        reject(e);
        this.fail(e);
      });
    });
  }

  /** OPTIONS → DESCRIBE → SETUP → PLAY. Returns 'playing' or the URL to be redirected to. */
  private async negotiate(): Promise<'playing' | string> {
    const options = await this.request('OPTIONS', this.url, {}, true);
    if (options.status >= 300 && options.status < 400) return this.redirectTarget(options);
    const pub = header(options, 'public') ?? '';
    if (/GET_PARAMETER/i.test(pub)) this.keepAliveMethod = 'GET_PARAMETER';

    const describe = await this.request('DESCRIBE', this.url, { Accept: 'application/sdp' }, true);
    if (describe.status >= 300 && describe.status < 400) return this.redirectTarget(describe);
    this.expectOk(describe, 'DESCRIBE', this.url);
    const sdp = parseSdp(describe.body);
    const video = this.checkVideo(sdp.video, sdp.media);
    const base = header(describe, 'content-base') ?? header(describe, 'content-location') ?? this.url;
    const track = resolveControl(base, video.control);
    const codec: VideoCodec = video.codec === 'H265' ? 'h265' : 'h264';
    this.codec = codec;
    this.depacketizer = new Depacketizer(codec, video.payloadType, video.clockRate, this.opts.sink, video.parameterSets);

    const setup = await this.request('SETUP', track, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    this.expectOk(setup, 'SETUP', track);
    const session = header(setup, 'session');
    if (!session) throw new RtspProtocolError(`camera ${this.cameraId}: SETUP answered without a Session header`, { cameraId: this.cameraId });
    const [id, ...params] = session.split(';');
    this.sessionId = id!.trim();
    for (const p of params) {
      const m = /timeout\s*=\s*(\d+)/i.exec(p);
      if (m) this.sessionTimeoutS = Math.max(5, Number(m[1]));
    }
    const transport = header(setup, 'transport') ?? '';
    const ch = /interleaved=(\d+)/.exec(transport);
    this.videoChannel = ch ? Number(ch[1]) : 0;

    const playUrl = sdp.sessionControl && sdp.sessionControl !== '*' ? resolveControl(base, sdp.sessionControl) : base;
    const play = await this.request('PLAY', playUrl, { Range: 'npt=0.000-' });
    this.expectOk(play, 'PLAY', playUrl);
    return 'playing';
  }

  private checkVideo(video: SdpVideo | undefined, media: string[]): SdpVideo {
    if (!video) throw new RtspMediaError('no video', `camera ${this.cameraId}: the stream has no video track (media: ${media.join(', ') || 'none'})`, { cameraId: this.cameraId });
    if (video.codec !== 'H264' && video.codec !== 'H265') {
      throw new RtspMediaError('unsupported codec', `camera ${this.cameraId}: video codec ${video.codec || 'unknown'} is not H.264 or H.265; use type: ffmpeg for this camera`, { cameraId: this.cameraId });
    }
    return video;
  }

  private redirectTarget(r: Response): string {
    const loc = header(r, 'location');
    if (!loc) throw new RtspProtocolError(`camera ${this.cameraId}: redirect ${r.status} without a Location`, { cameraId: this.cameraId });
    return loc;
  }

  private expectOk(r: Response, method: string, url: string): void {
    if (r.status !== 200) throw new RtspStatusError(r.status, method, url, { cameraId: this.cameraId });
  }

  /** Sends a request; on 401 with credentials, answers the challenge once and resends. */
  private async request(method: string, url: string, headers: Record<string, string>, allowRedirect = false): Promise<Response> {
    let r = await this.send(method, url, headers);
    if (r.status === 401 && this.username !== undefined) {
      const challenge = parseChallenges(r.headers.get('www-authenticate') ?? []);
      if (challenge) {
        this.auth = new Authenticator(challenge, this.username, this.password ?? '');
        r = await this.send(method, url, headers);
      }
    }
    if (r.status === 401) throw new RtspStatusError(401, method, url, { cameraId: this.cameraId });
    if (allowRedirect && r.status >= 300 && r.status < 400) return r;
    if (method === 'OPTIONS' && r.status !== 200) return r; // OPTIONS is advisory
    return r;
  }

  private send(method: string, url: string, headers: Record<string, string>): Promise<Response> {
    const sock = this.socket;
    if (!sock || sock.destroyed) return Promise.reject(new RtspConnectError('closed by server', `camera ${this.cameraId}: connection closed before ${method}`, { cameraId: this.cameraId }));
    const cseq = ++this.cseq;
    let text = `${method} ${url} RTSP/1.0\r\nCSeq: ${cseq}\r\nUser-Agent: ${USER_AGENT}\r\n`;
    if (this.sessionId && method !== 'OPTIONS' && method !== 'DESCRIBE') text += `Session: ${this.sessionId}\r\n`;
    if (this.auth) text += `Authorization: ${this.auth.header(method, url)}\r\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
    text += '\r\n';
    return new Promise((resolve, reject) => {
      const timeoutMs = this.opts.requestTimeoutMs ?? 5000;
      const timer = setTimeout(() => {
        this.pending.delete(cseq);
        reject(new RtspConnectError('timeout', `camera ${this.cameraId}: no answer to ${method} within ${timeoutMs} ms`, { cameraId: this.cameraId }));
      }, timeoutMs);
      this.pending.set(cseq, { method, url, resolve, reject, timer });
      sock.write(text);
    });
  }

  private sendKeepAlive(): void {
    if (this.state !== 'streaming') return;
    this.send(this.keepAliveMethod, this.url, {}).catch(() => undefined);
  }

  private onData(chunk: Uint8Array): void {
    this.lastDataMs = Date.now();
    const need = this.rxLen + chunk.length;
    if (need > this.rx.length) {
      const next = new Uint8Array(Math.max(need, this.rx.length * 2));
      next.set(this.rx.subarray(0, this.rxLen));
      this.rx = next;
    }
    this.rx.set(chunk, this.rxLen);
    this.rxLen = need;
    let pos = 0;
    try {
      pos = this.parse();
    } catch (err) {
      this.fail(err instanceof IngestError ? err : new RtspProtocolError(`camera ${this.cameraId}: ${(err as Error).message}`, { cause: err, cameraId: this.cameraId }));
      return;
    }
    if (pos >= this.rxLen) this.rxLen = 0;
    else if (pos > 0) {
      this.rx.copyWithin(0, pos, this.rxLen);
      this.rxLen -= pos;
    }
    // A buffer grown by one huge frame shrinks back once drained.
    if (this.rxLen === 0 && this.rx.length > 1024 * 1024) this.rx = new Uint8Array(64 * 1024);
  }

  /** Consumes complete interleaved frames and RTSP messages; returns the first unconsumed offset. */
  private parse(): number {
    const b = this.rx;
    const end = this.rxLen;
    let pos = 0;
    while (pos < end) {
      const c = b[pos]!;
      if (c === DOLLAR) {
        if (pos + 4 > end) break;
        const ch = b[pos + 1]!;
        const n = (b[pos + 2]! << 8) | b[pos + 3]!;
        if (pos + 4 + n > end) break;
        if (ch === this.videoChannel && this.depacketizer) this.depacketizer.push(b, pos + 4, n, this.lastDataMs);
        pos += 4 + n;
        continue;
      }
      if (c >= 0x41 && c <= 0x5a) { // 'A'..'Z': an RTSP response or a server request
        const headEnd = findHeaderEnd(b, pos, end);
        if (headEnd < 0) {
          if (end - pos > MAX_HEADER_BYTES) throw new RtspProtocolError(`camera ${this.cameraId}: RTSP header longer than ${MAX_HEADER_BYTES} bytes`);
          break;
        }
        const head = Buffer.from(b.buffer, b.byteOffset + pos, headEnd - pos).toString('latin1');
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const bodyLen = cl ? Number(cl[1]) : 0;
        const msgEnd = headEnd + 4 + bodyLen;
        if (msgEnd > end) break;
        if (head.startsWith('RTSP/')) {
          const body = Buffer.from(b.buffer, b.byteOffset + headEnd + 4, bodyLen).toString('utf8');
          this.onResponse(head, body);
        } else if (/^[A-Z_]+ \S+ RTSP\/1\.0/.test(head)) {
          this.answerServerRequest(head);
        } else {
          pos = this.resync(pos + 1, end);
          continue;
        }
        pos = msgEnd;
        continue;
      }
      pos = this.resync(pos, end);
    }
    return pos;
  }

  /** Skips garbage up to the next plausible interleaved frame header. */
  private resync(from: number, end: number): number {
    const b = this.rx;
    let p = from;
    while (p < end && !(b[p] === DOLLAR && (p + 1 >= end || b[p + 1]! <= 3))) p++;
    this.garbageBytes += p - from;
    return p;
  }

  private answerServerRequest(head: string): void {
    const m = /\r\ncseq:\s*(\d+)/i.exec(head);
    this.socket?.write(`RTSP/1.0 200 OK\r\nCSeq: ${m ? m[1] : '0'}\r\n\r\n`);
  }

  private onResponse(head: string, body: string): void {
    const lines = head.split('\r\n');
    const m = /^RTSP\/1\.0\s+(\d{3})\s*(.*)$/.exec(lines[0]!);
    if (!m) throw new RtspProtocolError(`camera ${this.cameraId}: bad status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const headers = new Map<string, string[]>();
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      const colon = l.indexOf(':');
      if (colon <= 0) continue;
      const k = l.slice(0, colon).trim().toLowerCase();
      const v = l.slice(colon + 1).trim();
      const list = headers.get(k);
      if (list) list.push(v); else headers.set(k, [v]);
    }
    const cseq = Number(headers.get('cseq')?.[0]);
    const p = this.pending.get(cseq);
    if (!p) return; // keep-alive answers, or a late answer after a timeout
    this.pending.delete(cseq);
    clearTimeout(p.timer);
    p.resolve({ status: Number(m[1]), reason: m[2] ?? '', headers, body });
  }

  private fail(err: IngestError): void {
    for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err); }
    this.pending.clear();
    const wasStreaming = this.state === 'streaming';
    this.closeSocket();
    if (wasStreaming) {
      this.state = 'closed';
      if (!this.stopping && !this.closedReported) {
        this.closedReported = true;
        this.opts.onClose?.(err);
      }
    }
  }

  private closeSocket(): void {
    if (this.keepAlive) { clearInterval(this.keepAlive); this.keepAlive = undefined; }
    const s = this.socket;
    this.socket = undefined;
    if (s) {
      s.removeAllListeners('close');
      s.on('error', () => undefined);
      s.destroy();
    }
    this.depacketizer?.reset();
    this.rxLen = 0;
  }
}

function findHeaderEnd(b: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 3 < end; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}
