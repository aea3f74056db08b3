import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { verifyAuthorization, CameraFarmError } from '../ingest/index.ts';
import type { Clip } from './clip.ts';
import { packetizeFrame, stampFrame, type FrameTemplate } from './packetize.ts';

/**
 * Faults a simulated camera can show. `refuse` closes the connection at the first request (one
 * port serves every camera, so a TCP-level refusal is tested with a closed port instead);
 * `stall`, `drop` and `resolution` act `faultAfterS` seconds into PLAY.
 */
export const FARM_FAULTS = ['none', 'refuse', '401', '404', 'stall', 'drop', 'corrupt', 'resolution', 'no-video', 'mjpeg'] as const;
export type FarmFault = (typeof FARM_FAULTS)[number];

export interface FarmCamera {
  /** First path segment of the URL, e.g. `cam-0001`. */
  path: string;
  username?: string | undefined;
  password?: string | undefined;
  fault?: FarmFault;
  faultAfterS?: number;
  /** `static` loops the farm's still clip (a parked-car scene where nothing moves); busy footage when absent. */
  scene?: FarmScene;
}

export type FarmScene = 'busy' | 'static';

export interface CameraFarmOptions {
  port: number;
  host?: string;
  cameras: readonly FarmCamera[];
  /** The clip every camera loops (busy footage), unless its scene is static. */
  clip: Clip;
  /** A second clip at another resolution, for the `resolution` fault. */
  altClip?: Clip;
  /** The clip of `scene: static` cameras, same codec, size, rate and GOP as `clip`. */
  staticClip?: Clip;
}

export interface CameraFarmStatus {
  port: number;
  cameras: number;
  connections: number;
  playing: number;
  bytesSent: number;
  framesSkipped: number;
}

interface Stream {
  clip: Clip;
  templates: FrameTemplate[];
  sdp: string;
  /** Phase groups of the cameras playing this stream. */
  groups: Group[];
}

/** Clients that play the same frame at the same time share one stamped buffer. */
interface Group {
  offset: number;
  seq: number;
  ts: number;
  ssrc: number;
  clients: Set<Client>;
}

interface Client {
  sock: Socket;
  rx: Buffer;
  nonce: string;
  sessionId: string;
  cam: FarmCamera | undefined;
  playing: boolean;
  group: Group | undefined;
  /** Own sequence/timestamp for clients that need their own bytes (faults). */
  own: { frame: number; seq: number; ts: number; ssrc: number; stream: Stream; switchAt: number } | undefined;
  stalled: boolean;
  timers: NodeJS.Timeout[];
}

const GROUPS = 30;
const REALM = 'gridwatch-sim';
const MAX_BACKLOG = 2 * 1024 * 1024;

function b64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

function makeSdp(clip: Clip): string {
  const ps = clip.parameterSets;
  const typeOf = (p: Uint8Array): number => (clip.codec === 'h264' ? p[0]! & 0x1f : (p[0]! >> 1) & 0x3f);
  let fmtp: string;
  let rtpmap: string;
  if (clip.codec === 'h264') {
    const sps = ps.find((p) => typeOf(p) === 7);
    const pps = ps.find((p) => typeOf(p) === 8);
    const pli = sps ? Buffer.from(sps.subarray(1, 4)).toString('hex') : '42e01f';
    fmtp = `packetization-mode=1;profile-level-id=${pli};sprop-parameter-sets=${[sps, pps].filter(Boolean).map((p) => b64(p!)).join(',')}`;
    rtpmap = 'H264/90000';
  } else {
    const get = (t: number): string => { const p = ps.find((x) => typeOf(x) === t); return p ? b64(p) : ''; };
    fmtp = `sprop-vps=${get(32)};sprop-sps=${get(33)};sprop-pps=${get(34)}`;
    rtpmap = 'H265/90000';
  }
  return ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=gridwatch camera farm', 'c=IN IP4 0.0.0.0', 't=0 0', 'a=control:*', 'a=range:npt=0-',
    'm=video 0 RTP/AVP 96', `a=rtpmap:96 ${rtpmap}`, `a=fmtp:96 ${fmtp}`, `a=framerate:${clip.fps}`, 'a=control:trackID=0', ''].join('\r\n');
}

const SDP_NO_VIDEO = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=audio only', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=audio 0 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=control:trackID=0', ''].join('\r\n');
const SDP_MJPEG = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=mjpeg', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=video 0 RTP/AVP 26', 'a=rtpmap:26 JPEG/90000', 'a=control:trackID=0', ''].join('\r\n');

/**
 * A farm of simulated RTSP cameras on one TCP port, each at `rtsp://host:port/<path>`. Every
 * camera loops one pre-encoded clip (busy footage, or a still for static scenes): frames are
 * packetised once at start, and each tick the frame is stamped once per phase group and the same
 * bytes are written to every client of that group, so thousands of cameras cost little more
 * than the socket writes.
 */
export class CameraFarm {
  #server: Server | undefined;
  readonly #cameras = new Map<string, FarmCamera>();
  readonly #clients = new Set<Client>();
  readonly #main: Stream;
  readonly #alt: Stream | undefined;
  readonly #static: Stream | undefined;
  readonly #own = new Set<Client>();
  #ticker: NodeJS.Timeout | undefined;
  #tick = 0;
  #t0 = 0;
  #bytesSent = 0;
  #framesSkipped = 0;
  #port: number;

  readonly #opts: CameraFarmOptions;

  constructor(opts: CameraFarmOptions) {
    this.#opts = opts;
    this.#port = opts.port;
    for (const c of opts.cameras) this.#cameras.set(c.path, c);
    const stream = (clip: Clip): Stream => ({
      clip, templates: clip.frames.map((f) => packetizeFrame(clip.codec, f)), sdp: makeSdp(clip),
      groups: Array.from({ length: GROUPS }, (_, g) => ({ offset: g, seq: randomInt(0, 65536), ts: randomInt(0, 2 ** 31), ssrc: randomInt(1, 2 ** 31), clients: new Set<Client>() })),
    });
    this.#main = stream(opts.clip);
    this.#alt = opts.altClip ? stream(opts.altClip) : undefined;
    this.#static = opts.staticClip ? stream(opts.staticClip) : undefined;
  }

  /** The stream a camera plays: faults always play the main clip. */
  #streamOf(cam: FarmCamera): Stream {
    return cam.scene === 'static' && this.#static && (cam.fault ?? 'none') === 'none' ? this.#static : this.#main;
  }

  async start(): Promise<void> {
    this.#server = createServer((sock) => this.#onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', (err) => reject(new CameraFarmError(`camera farm cannot listen on ${this.#opts.host ?? '127.0.0.1'}:${this.#opts.port}: ${err.message}`, { cause: err })));
      this.#server!.listen(this.#opts.port, this.#opts.host ?? '127.0.0.1', () => resolve());
    });
    const addr = this.#server.address();
    if (addr && typeof addr === 'object') this.#port = addr.port;
    this.#t0 = performance.now();
    const periodMs = 1000 / this.#main.clip.fps;
    this.#ticker = setInterval(() => {
      const due = Math.floor((performance.now() - this.#t0) / periodMs);
      let n = 0;
      while (this.#tick < due && n++ < 5) this.#sendTick();
      if (this.#tick < due) { this.#framesSkipped += due - this.#tick; this.#tick = due; }
    }, 10); // fine-grained so that frames leave within ~10 ms of their time
  }

  async stop(): Promise<void> {
    if (this.#ticker) clearInterval(this.#ticker);
    for (const c of this.#clients) this.#drop(c);
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  url(path: string, host = '127.0.0.1'): string {
    return `rtsp://${host}:${this.#port}/${path}`;
  }

  /** Adds or replaces a camera (credentials, fault); clients of a replaced camera are dropped. */
  setCamera(cam: FarmCamera): void {
    this.#cameras.set(cam.path, cam);
    for (const c of this.#clients) if (c.cam?.path === cam.path) this.#drop(c);
  }

  removeCamera(path: string): void {
    this.#cameras.delete(path);
    for (const c of this.#clients) if (c.cam?.path === path) this.#drop(c);
  }

  status(): CameraFarmStatus {
    let playing = 0;
    for (const c of this.#clients) if (c.playing) playing++;
    return { port: this.#port, cameras: this.#cameras.size, connections: this.#clients.size, playing, bytesSent: this.#bytesSent, framesSkipped: this.#framesSkipped };
  }

  #onConnection(sock: Socket): void {
    sock.setNoDelay(true);
    const c: Client = { sock, rx: Buffer.alloc(0), nonce: randomBytes(12).toString('hex'), sessionId: randomBytes(6).toString('hex'), cam: undefined, playing: false, group: undefined, own: undefined, stalled: false, timers: [] };
    this.#clients.add(c);
    sock.on('data', (d) => {
      c.rx = c.rx.length ? Buffer.concat([c.rx, d]) : d;
      try { this.#parse(c); } catch { this.#drop(c); }
    });
    sock.on('error', () => this.#drop(c));
    sock.on('close', () => this.#drop(c));
  }

  #drop(c: Client): void {
    if (!this.#clients.delete(c)) return;
    this.#stopPlaying(c);
    for (const t of c.timers) clearTimeout(t);
    c.sock.destroy();
  }

  #stopPlaying(c: Client): void {
    c.playing = false;
    c.group?.clients.delete(c);
    c.group = undefined;
    this.#own.delete(c);
    c.own = undefined;
  }

  #parse(c: Client): void {
    for (;;) {
      const b = c.rx;
      if (b.length === 0) return;
      if (b[0] === 0x24) { // RTCP from the client, interleaved: skip
        if (b.length < 4) return;
        const n = 4 + b.readUInt16BE(2);
        if (b.length < n) return;
        c.rx = b.subarray(n);
        continue;
      }
      const end = b.indexOf('\r\n\r\n');
      if (end < 0) {
        if (b.length > 16384) throw new Error('request too long');
        return;
      }
      const head = b.subarray(0, end).toString('latin1');
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const total = end + 4 + (cl ? Number(cl[1]) : 0);
      if (b.length < total) return;
      c.rx = b.subarray(total);
      this.#handle(c, head);
      if (!this.#clients.has(c)) return;
    }
  }

  #reply(c: Client, cseq: string, code: number, text: string, headers: Record<string, string> = {}, body = ''): void {
    let out = `RTSP/1.0 ${code} ${text}\r\nCSeq: ${cseq}\r\nServer: gridwatch-sim\r\n`;
    for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\r\n`;
    if (body) out += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    c.sock.write(`${out}\r\n${body}`);
  }

  #handle(c: Client, head: string): void {
    const lines = head.split('\r\n');
    const [method = '', url = ''] = lines[0]!.split(' ');
    const h = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) h.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const cseq = h.get('cseq') ?? '0';
    let path = '';
    try { path = new URL(url).pathname.split('/').filter(Boolean)[0] ?? ''; } catch { /* '*' or junk */ }
    const cam = this.#cameras.get(path);
    if (cam?.fault === 'refuse') { this.#drop(c); return; }
    if (method === 'OPTIONS') {
      this.#reply(c, cseq, 200, 'OK', { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
      return;
    }
    if (method === 'GET_PARAMETER' || method === 'SET_PARAMETER') { this.#reply(c, cseq, 200, 'OK', { Session: c.sessionId }); return; }
    if (!cam || cam.fault === '404') { this.#reply(c, cseq, 404, 'Not Found'); return; }
    if (cam.fault === '401' || (cam.username !== undefined && !verifyAuthorization(h.get('authorization'), method, REALM, c.nonce, cam.username, cam.password ?? ''))) {
      this.#reply(c, cseq, 401, 'Unauthorized', { 'WWW-Authenticate': `Digest realm="${REALM}", nonce="${c.nonce}", algorithm=MD5` });
      return;
    }
    c.cam = cam;
    const base = `rtsp://${h.get('host') ?? `127.0.0.1:${this.#port}`}/${path}/`;
    switch (method) {
      case 'DESCRIBE': {
        const sdp = cam.fault === 'no-video' ? SDP_NO_VIDEO : cam.fault === 'mjpeg' ? SDP_MJPEG : this.#streamOf(cam).sdp;
        this.#reply(c, cseq, 200, 'OK', { 'Content-Type': 'application/sdp', 'Content-Base': base }, sdp);
        return;
      }
      case 'SETUP': {
        const transport = h.get('transport') ?? '';
        if (!/TCP/i.test(transport)) { this.#reply(c, cseq, 461, 'Unsupported Transport'); return; }
        const ch = /interleaved=(\d+)-(\d+)/.exec(transport);
        this.#reply(c, cseq, 200, 'OK', { Transport: `RTP/AVP/TCP;unicast;interleaved=${ch ? `${ch[1]}-${ch[2]}` : '0-1'}`, Session: `${c.sessionId};timeout=60` });
        return;
      }
      case 'PLAY': {
        this.#startPlaying(c, cam);
        const g = c.group;
        const rtpInfo = g ? `url=${base}trackID=0;seq=${g.seq};rtptime=${g.ts >>> 0}` : `url=${base}trackID=0;seq=${c.own!.seq};rtptime=${c.own!.ts >>> 0}`;
        this.#reply(c, cseq, 200, 'OK', { Session: c.sessionId, Range: 'npt=0.000-', 'RTP-Info': rtpInfo });
        return;
      }
      case 'TEARDOWN':
        this.#stopPlaying(c);
        this.#reply(c, cseq, 200, 'OK', { Session: c.sessionId });
        return;
      default:
        this.#reply(c, cseq, 501, 'Not Implemented');
    }
  }

  #startPlaying(c: Client, cam: FarmCamera): void {
    if (c.playing) return;
    c.playing = true;
    if (cam.fault === 'no-video' || cam.fault === 'mjpeg') return; // nothing we can send
    const afterMs = (cam.faultAfterS ?? 3) * 1000;
    const needsOwn = cam.fault === 'corrupt' || cam.fault === 'resolution';
    if (needsOwn) {
      c.own = { frame: randomInt(0, this.#main.templates.length), seq: randomInt(0, 65536), ts: randomInt(0, 2 ** 31), ssrc: randomInt(1, 2 ** 31), stream: this.#main, switchAt: cam.fault === 'resolution' ? performance.now() + afterMs : Infinity };
      this.#own.add(c);
    } else {
      // Cameras land in phase groups by a hash of their path, so their keyframes spread over the GOP.
      let hash = 0;
      for (let i = 0; i < cam.path.length; i++) hash = (hash * 31 + cam.path.charCodeAt(i)) >>> 0;
      c.group = this.#streamOf(cam).groups[hash % GROUPS]!;
      c.group.clients.add(c);
    }
    if (cam.fault === 'stall') c.timers.push(setTimeout(() => { c.stalled = true; }, afterMs));
    if (cam.fault === 'drop') c.timers.push(setTimeout(() => this.#drop(c), afterMs));
  }

  #write(c: Client, bytes: Uint8Array): void {
    if (c.stalled) return;
    if (c.sock.writableLength > MAX_BACKLOG) { this.#framesSkipped++; return; }
    c.sock.write(bytes);
    this.#bytesSent += bytes.length;
  }

  #sendTick(): void {
    const k = this.#tick++;
    const frames = this.#main.templates.length;
    const tsStep = Math.round(90_000 / this.#main.clip.fps);
    for (const s of this.#static ? [this.#main, this.#static] : [this.#main]) {
      for (const g of s.groups) {
        if (g.clients.size === 0) { g.ts = (g.ts + tsStep) >>> 0; continue; }
        const t = s.templates[(k + g.offset) % s.templates.length]!;
        const out = t.bytes.slice();
        g.seq = stampFrame(t, out, g.seq, g.ts, g.ssrc);
        g.ts = (g.ts + tsStep) >>> 0;
        for (const c of g.clients) this.#write(c, out);
      }
    }
    const now = performance.now();
    for (const c of this.#own) {
      const o = c.own!;
      const idx = o.frame++ % frames;
      if (now >= o.switchAt && this.#alt) {
        const other = o.stream === this.#main ? this.#alt : this.#main;
        if (other.templates[idx % other.templates.length]!.keyframe) { o.stream = other; o.switchAt = now + (c.cam?.faultAfterS ?? 3) * 1000; }
      }
      const t = o.stream.templates[idx % o.stream.templates.length]!;
      let out: Uint8Array = t.bytes.slice();
      o.seq = stampFrame(t, out, o.seq, o.ts, o.ssrc);
      o.ts = (o.ts + tsStep) >>> 0;
      if (c.cam?.fault === 'corrupt') out = corrupt(t, out);
      this.#write(c, out);
    }
  }
}

/** Flips payload bytes, and now and then adds junk between packets or a truncated RTP packet. */
function corrupt(t: FrameTemplate, out: Uint8Array): Uint8Array {
  for (let i = 0; i < t.rtp.length; i++) {
    if (Math.random() < 0.1) {
      const r = t.rtp[i]!;
      const len = (out[r - 2]! << 8) | out[r - 1]!;
      if (len > 14) out[r + 12 + randomInt(0, len - 12)] = randomInt(0, 256);
    }
  }
  const r = Math.random();
  if (r < 0.05) return Buffer.concat([randomBytes(40), out]);
  if (r < 0.1) return Buffer.concat([out, Uint8Array.of(0x24, 0, 0, 6, 0x80, 96, 0, 0, 0, 0)]);
  return out;
}
