import { connect, type Socket } from 'node:net';
import { Authenticator, parseChallenges } from './auth.ts';
import { parseSdp, resolveControl, type SdpVideo } from './sdp.ts';
import { Depacketizer, type AccessUnitSink, type VideoCodec } from './depacketizer.ts';
import { RtspFraming, type FramingSink } from './framing.ts';
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
  /** Bytes skipped while looking for the next frame (a server's or a network's garbage). */
  get garbageBytes(): number { return this.#rx.garbageBytes; }
  #socket: Socket | undefined;
  readonly #rx: RtspFraming;
  readonly #rxSink: FramingSink = {
    interleaved: (ch, b, off, len) => { if (ch === this.#videoChannel && this.depacketizer) this.depacketizer.push(b, off, len, this.lastDataMs); },
    response: (head, body) => this.#onResponse(head, body),
    request: (head) => this.#answerServerRequest(head),
  };
  #cseq = 0;
  readonly #pending = new Map<number, Pending>();
  #auth: Authenticator | undefined;
  #sessionId: string | undefined;
  #sessionTimeoutS = 60;
  #keepAlive: NodeJS.Timeout | undefined;
  #keepAliveMethod = 'OPTIONS';
  #videoChannel = 0;
  #url: string;
  /** The host the credentials were configured for; redirects elsewhere go on without them. */
  readonly #configuredHost: string;
  #username: string | undefined;
  #password: string | undefined;
  #closedReported = false;
  #stopping = false;

  readonly #opts: RtspSessionOptions;

  constructor(opts: RtspSessionOptions) {
    this.#opts = opts;
    this.#rx = new RtspFraming(opts.cameraId, this.#rxSink);
    const u = new URL(opts.url);
    this.#username = opts.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
    this.#password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
    u.username = '';
    u.password = '';
    this.#url = u.toString();
    this.#configuredHost = u.hostname.toLowerCase();
  }

  get cameraId(): string { return this.#opts.cameraId; }

  async start(): Promise<void> {
    this.state = 'connecting';
    try {
      const redirects = this.#opts.maxRedirects ?? 3;
      for (let hop = 0; ; hop++) {
        await this.#connect();
        const r = await this.#negotiate();
        if (r === 'playing') break;
        if (hop >= redirects) throw new RtspConnectError('redirect loop', `camera ${this.cameraId}: more than ${redirects} redirects`, { cameraId: this.cameraId });
        this.#follow(r);
        this.#closeSocket();
      }
      this.state = 'streaming';
      const every = Math.max(1, Math.min(this.#sessionTimeoutS * 500, 30_000));
      this.#keepAlive = setInterval(() => this.#sendKeepAlive(), every);
    } catch (err) {
      this.#closeSocket();
      this.state = 'closed';
      throw err instanceof IngestError ? err : new RtspProtocolError(`camera ${this.cameraId}: ${(err as Error).message}`, { cause: err, cameraId: this.cameraId });
    }
  }

  /** TEARDOWN (best effort, bounded) and close. */
  async stop(): Promise<void> {
    if (this.state === 'closed') return;
    this.#stopping = true;
    if (this.state === 'streaming' && this.#socket && this.#sessionId) {
      await Promise.race([
        this.#request('TEARDOWN', this.#url, {}).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    this.#closeSocket();
    this.state = 'closed';
  }

  /** Closes without TEARDOWN (stall watchdog, faults). */
  destroy(): void {
    this.#stopping = true;
    this.#closeSocket();
    this.state = 'closed';
  }

  #connect(): Promise<void> {
    const u = new URL(this.#url);
    const port = u.port ? Number(u.port) : 554;
    return new Promise((resolve, reject) => {
      // Reads land in one buffer shared by every session (each read is consumed at once), so
      // thousands of sockets allocate nothing per read.
      let sock: Socket | undefined = undefined;
      const onRead = (n: number, buf: Uint8Array): boolean => {
        if (sock !== undefined && this.#socket === sock) this.#onData(buf.subarray(0, n));
        return true;
      };
      sock = connect({ host: u.hostname, port, noDelay: true, onread: { buffer: SHARED_READ_BUFFER, callback: onRead } });
      this.#socket = sock;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RtspConnectError('timeout', `camera ${this.cameraId}: no TCP connection to ${u.host} within ${this.#opts.connectTimeoutMs ?? 5000} ms`, { cameraId: this.cameraId }));
      }, this.#opts.connectTimeoutMs ?? 5000);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.setKeepAlive(true, 30_000);
        resolve();
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const e = new RtspConnectError(socketReason(err), `camera ${this.cameraId}: ${u.host}: ${err.message}`, { cause: err, cameraId: this.cameraId });
        reject(e);
        this.#fail(e);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        const e = new RtspConnectError('closed by server', `camera ${this.cameraId}: ${u.host} closed the connection`, { cameraId: this.cameraId });
        reject(e);
        this.#fail(e);
      });
    });
  }

  /** OPTIONS → DESCRIBE → SETUP → PLAY. Returns 'playing' or the URL to be redirected to. */
  async #negotiate(): Promise<'playing' | string> {
    const options = await this.#request('OPTIONS', this.#url, {}, true);
    if (options.status >= 300 && options.status < 400) return this.#redirectTarget(options);
    const pub = header(options, 'public') ?? '';
    if (/GET_PARAMETER/i.test(pub)) this.#keepAliveMethod = 'GET_PARAMETER';

    const describe = await this.#request('DESCRIBE', this.#url, { Accept: 'application/sdp' }, true);
    if (describe.status >= 300 && describe.status < 400) return this.#redirectTarget(describe);
    this.#expectOk(describe, 'DESCRIBE', this.#url);
    const sdp = parseSdp(describe.body);
    const video = this.#checkVideo(sdp.video, sdp.media);
    const base = header(describe, 'content-base') ?? header(describe, 'content-location') ?? this.#url;
    const track = resolveControl(base, video.control);
    const codec: VideoCodec = video.codec === 'H265' ? 'h265' : 'h264';
    this.codec = codec;
    this.depacketizer = new Depacketizer(codec, video.payloadType, video.clockRate, this.#opts.sink, video.parameterSets, this.cameraId);

    const setup = await this.#request('SETUP', track, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    this.#expectOk(setup, 'SETUP', track);
    const session = header(setup, 'session');
    if (!session) throw new RtspProtocolError(`camera ${this.cameraId}: SETUP answered without a Session header`, { cameraId: this.cameraId });
    const [id, ...params] = session.split(';');
    this.#sessionId = id!.trim();
    for (const p of params) {
      const m = /timeout\s*=\s*(\d+)/i.exec(p);
      if (m) this.#sessionTimeoutS = Math.max(5, Number(m[1]));
    }
    const transport = header(setup, 'transport') ?? '';
    const ch = /interleaved=(\d+)/.exec(transport);
    this.#videoChannel = ch ? Number(ch[1]) : 0;

    const playUrl = sdp.sessionControl && sdp.sessionControl !== '*' ? resolveControl(base, sdp.sessionControl) : base;
    const play = await this.#request('PLAY', playUrl, { Range: 'npt=0.000-' });
    this.#expectOk(play, 'PLAY', playUrl);
    return 'playing';
  }

  #checkVideo(video: SdpVideo | undefined, media: string[]): SdpVideo {
    if (!video) throw new RtspMediaError('no video', `camera ${this.cameraId}: the stream has no video track (media: ${media.join(', ') || 'none'})`, { cameraId: this.cameraId });
    if (video.codec !== 'H264' && video.codec !== 'H265') {
      throw new RtspMediaError('unsupported codec', `camera ${this.cameraId}: video codec ${video.codec || 'unknown'} is not H.264 or H.265; use type: ffmpeg for this camera`, { cameraId: this.cameraId });
    }
    return video;
  }

  /**
   * Moves to a redirect's target. The camera's credentials go only to the host they were
   * configured for: a redirect to another host continues without them (and a Location's own
   * user info is ignored), so a hostile or compromised camera cannot harvest them.
   */
  #follow(location: string): void {
    let next: URL;
    try {
      next = new URL(location, this.#url);
    } catch {
      throw new RtspProtocolError(`camera ${this.cameraId}: redirect to an unreadable Location ${JSON.stringify(location.slice(0, 200))}`, { cameraId: this.cameraId });
    }
    if (next.protocol !== 'rtsp:') throw new RtspProtocolError(`camera ${this.cameraId}: redirect to ${next.protocol} refused; only rtsp:// is followed`, { cameraId: this.cameraId });
    next.username = '';
    next.password = '';
    if (next.hostname.toLowerCase() !== this.#configuredHost) {
      this.#username = undefined;
      this.#password = undefined;
    }
    // A challenge answered for one server is not sent to the next, even on the same host.
    this.#auth = undefined;
    this.#url = next.toString();
  }

  #redirectTarget(r: Response): string {
    const loc = header(r, 'location');
    if (!loc) throw new RtspProtocolError(`camera ${this.cameraId}: redirect ${r.status} without a Location`, { cameraId: this.cameraId });
    return loc;
  }

  #expectOk(r: Response, method: string, url: string): void {
    if (r.status !== 200) throw new RtspStatusError(r.status, method, url, { cameraId: this.cameraId });
  }

  /** Sends a request; on 401 with credentials, answers the challenge once and resends. */
  async #request(method: string, url: string, headers: Record<string, string>, allowRedirect = false): Promise<Response> {
    let r = await this.#send(method, url, headers);
    if (r.status === 401 && this.#username !== undefined) {
      const challenge = parseChallenges(r.headers.get('www-authenticate') ?? []);
      if (challenge) {
        this.#auth = new Authenticator(challenge, this.#username, this.#password ?? '');
        r = await this.#send(method, url, headers);
      }
    }
    if (r.status === 401) throw new RtspStatusError(401, method, url, { cameraId: this.cameraId });
    if (allowRedirect && r.status >= 300 && r.status < 400) return r;
    if (method === 'OPTIONS' && r.status !== 200) return r; // OPTIONS is advisory
    return r;
  }

  #send(method: string, url: string, headers: Record<string, string>): Promise<Response> {
    const sock = this.#socket;
    if (!sock || sock.destroyed) return Promise.reject(new RtspConnectError('closed by server', `camera ${this.cameraId}: connection closed before ${method}`, { cameraId: this.cameraId }));
    const cseq = ++this.#cseq;
    let text = `${method} ${url} RTSP/1.0\r\nCSeq: ${cseq}\r\nUser-Agent: ${USER_AGENT}\r\n`;
    if (this.#sessionId && method !== 'OPTIONS' && method !== 'DESCRIBE') text += `Session: ${this.#sessionId}\r\n`;
    if (this.#auth) text += `Authorization: ${this.#auth.header(method, url)}\r\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
    text += '\r\n';
    return new Promise((resolve, reject) => {
      const timeoutMs = this.#opts.requestTimeoutMs ?? 5000;
      const timer = setTimeout(() => {
        this.#pending.delete(cseq);
        reject(new RtspConnectError('timeout', `camera ${this.cameraId}: no answer to ${method} within ${timeoutMs} ms`, { cameraId: this.cameraId }));
      }, timeoutMs);
      this.#pending.set(cseq, { method, url, resolve, reject, timer });
      sock.write(text);
    });
  }

  #sendKeepAlive(): void {
    if (this.state !== 'streaming') return;
    this.#send(this.#keepAliveMethod, this.#url, {}).catch(() => undefined);
  }

  #onData(chunk: Uint8Array): void {
    this.lastDataMs = Date.now();
    try {
      this.#rx.push(chunk);
    } catch (err) {
      this.#fail(err instanceof IngestError ? err : new RtspProtocolError(`camera ${this.cameraId}: ${(err as Error).message}`, { cause: err, cameraId: this.cameraId }));
    }
  }

  #answerServerRequest(head: string): void {
    const m = /\r\ncseq:\s*(\d+)/i.exec(head);
    this.#socket?.write(`RTSP/1.0 200 OK\r\nCSeq: ${m ? m[1] : '0'}\r\n\r\n`);
  }

  #onResponse(head: string, body: string): void {
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
    const p = this.#pending.get(cseq);
    if (!p) return; // keep-alive answers, or a late answer after a timeout
    this.#pending.delete(cseq);
    clearTimeout(p.timer);
    p.resolve({ status: Number(m[1]), reason: m[2] ?? '', headers, body });
  }

  #fail(err: IngestError): void {
    for (const p of this.#pending.values()) { clearTimeout(p.timer); p.reject(err); }
    this.#pending.clear();
    const wasStreaming = this.state === 'streaming';
    this.#closeSocket();
    if (wasStreaming) {
      this.state = 'closed';
      if (!this.#stopping && !this.#closedReported) {
        this.#closedReported = true;
        this.#opts.onClose?.(err);
      }
    }
  }

  #closeSocket(): void {
    if (this.#keepAlive) { clearInterval(this.#keepAlive); this.#keepAlive = undefined; }
    const s = this.#socket;
    this.#socket = undefined;
    if (s) {
      s.removeAllListeners('close');
      s.on('error', () => undefined);
      s.destroy();
    }
    this.depacketizer?.reset();
    this.#rx.reset();
  }
}
