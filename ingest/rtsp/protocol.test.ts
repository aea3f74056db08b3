import { describe, expect, it } from 'vitest';
import { Authenticator, parseChallenges, verifyAuthorization } from './auth.ts';
import { parseSdp, resolveControl } from './sdp.ts';
import { until } from '../../test/harness.ts';

describe('RTSP authentication', () => {
  it('answers a Digest challenge (with and without qop) the way a server checks it', () => {
    for (const qop of ['', ', qop="auth"']) {
      const c = parseChallenges([`Basic realm="cam"`, `Digest realm="cam", nonce="abc123"${qop}, algorithm=MD5`])!;
      expect(c.scheme).toBe('digest');
      const h = new Authenticator(c, 'admin', 's3cret').header('DESCRIBE', 'rtsp://h/cam-0001');
      if (!qop) expect(verifyAuthorization(h, 'DESCRIBE', 'cam', 'abc123', 'admin', 's3cret')).toBe(true);
      expect(verifyAuthorization(h, 'DESCRIBE', 'cam', 'abc123', 'admin', 'wrong')).toBe(false);
    }
  });

  it('falls back to Basic when that is all the server offers', () => {
    const c = parseChallenges(['Basic realm="x"'])!;
    const h = new Authenticator(c, 'u', 'p').header('OPTIONS', '*');
    expect(h).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(verifyAuthorization(h, 'OPTIONS', 'x', '', 'u', 'p')).toBe(true);
  });
});

describe('SDP', () => {
  it('reads H.264 sprop-parameter-sets and the track control', () => {
    const sdp = parseSdp('v=0\r\ns=x\r\na=control:*\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=1\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==\r\na=control:trackID=0\r\n');
    expect(sdp.video).toMatchObject({ codec: 'H264', payloadType: 96, clockRate: 90_000, control: 'trackID=0' });
    expect(sdp.video!.parameterSets.map((p) => p[0]! & 0x1f)).toEqual([7, 8]);
    expect(sdp.media).toEqual(['audio', 'video']);
    expect(resolveControl('rtsp://h:1/cam/', 'trackID=0')).toBe('rtsp://h:1/cam/trackID=0');
    expect(resolveControl('rtsp://h:1/cam', 'rtsp://other/x')).toBe('rtsp://other/x');
  });

  it('reads H.265 sprop-vps/sps/pps', () => {
    const b = (t: number) => Buffer.from([t << 1, 1, 0xaa]).toString('base64');
    const sdp = parseSdp(`v=0\nm=video 0 RTP/AVP 98\na=rtpmap:98 H265/90000\na=fmtp:98 sprop-vps=${b(32)}; sprop-sps=${b(33)}; sprop-pps=${b(34)}\n`);
    expect(sdp.video!.codec).toBe('H265');
    expect(sdp.video!.parameterSets.map((p) => (p[0]! >> 1) & 0x3f)).toEqual([32, 33, 34]);
  });

  it('reports no video and other codecs as they are', () => {
    expect(parseSdp('v=0\nm=audio 0 RTP/AVP 0\n').video).toBeUndefined();
    expect(parseSdp('v=0\nm=video 0 RTP/AVP 26\na=rtpmap:26 JPEG/90000\n').video!.codec).toBe('JPEG');
  });
});

describe('redirects', () => {
  it('follows a 302 from one server to another', async () => {
    const { createServer } = await import('node:net');
    const { freePort } = await import('../../core/index.ts');
    const { RtspSession } = await import('./session.ts');
    const { startCameraFarm } = await import('../../sim/index.ts');
    const { DATA_DIR } = await import('../../test/ingest.ts');
    const farmPort = await freePort();
    const farm = await startCameraFarm({ dataDir: DATA_DIR, port: farmPort, cameras: [{ path: 'target', username: 'u', password: 'p' }] });
    const target = `rtsp://127.0.0.1:${farmPort}/target`;
    const redirector = createServer((sock) => {
      sock.on('data', (d) => {
        const cseq = /CSeq:\s*(\d+)/i.exec(d.toString())?.[1] ?? '0';
        sock.write(`RTSP/1.0 302 Moved Temporarily\r\nCSeq: ${cseq}\r\nLocation: ${target}\r\n\r\n`);
      });
      sock.on('error', () => undefined);
    });
    const port = await freePort();
    await new Promise<void>((r) => redirector.listen(port, '127.0.0.1', () => r()));
    let keyframes = 0;
    const s = new RtspSession({ cameraId: 'moved', url: `rtsp://u:p@127.0.0.1:${port}/old`, sink: { onAccessUnit: (au) => { if (au.keyframe) keyframes++; } } });
    try {
      await s.start();
      expect(s.state).toBe('streaming');
      await until('a keyframe through the redirect', () => keyframes > 0, 5000);
      expect(keyframes).toBeGreaterThan(0);
    } finally {
      await s.stop();
      redirector.close();
      await farm.stop();
    }
  }, 60_000);

  it('does not carry the camera\'s credentials to another host it is redirected to', async () => {
    const { createServer } = await import('node:net');
    const { freePort } = await import('../../core/index.ts');
    const { RtspSession } = await import('./session.ts');
    // The other host (127.0.0.2 is loopback on Linux, but another host name) asks for credentials
    // and records every Authorization header it is sent.
    const seen: string[] = [];
    const other = createServer((sock) => {
      sock.on('data', (d) => {
        const text = d.toString('latin1');
        const cseq = /CSeq:\s*(\d+)/i.exec(text)?.[1] ?? '0';
        const auth = /\r\nAuthorization:\s*([^\r]*)/i.exec(text)?.[1];
        if (auth) seen.push(auth);
        sock.write(`RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="elsewhere"\r\n\r\n`);
      });
      sock.on('error', () => undefined);
    });
    const otherPort = await freePort();
    await new Promise<void>((r) => other.listen(otherPort, '127.0.0.2', () => r()));
    const redirector = createServer((sock) => {
      sock.on('data', (d) => {
        const cseq = /CSeq:\s*(\d+)/i.exec(d.toString())?.[1] ?? '0';
        sock.write(`RTSP/1.0 302 Moved Temporarily\r\nCSeq: ${cseq}\r\nLocation: rtsp://127.0.0.2:${otherPort}/grab\r\n\r\n`);
      });
      sock.on('error', () => undefined);
    });
    const port = await freePort();
    await new Promise<void>((r) => redirector.listen(port, '127.0.0.1', () => r()));
    const s = new RtspSession({ cameraId: 'lured', url: `rtsp://admin:s3cret@127.0.0.1:${port}/cam`, sink: { onAccessUnit: () => undefined } });
    try {
      await expect(s.start()).rejects.toMatchObject({ code: 'INGEST_RTSP_STATUS' });
      expect(seen).toEqual([]);
    } finally {
      await s.stop();
      redirector.close();
      other.close();
    }
  }, 30_000);

  it('refuses an RTSP answer whose Content-Length is huge instead of buffering it', async () => {
    const { createServer } = await import('node:net');
    const { freePort } = await import('../../core/index.ts');
    const { RtspSession } = await import('./session.ts');
    let sentBytes = 0;
    const server = createServer((sock) => {
      sock.once('data', (d) => {
        const cseq = /CSeq:\s*(\d+)/i.exec(d.toString())?.[1] ?? '0';
        sock.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Length: 2000000000\r\n\r\n`);
        // Then a body that would never end, a megabyte at a time, until the client hangs up.
        const chunk = Buffer.alloc(1 << 20, 0x41);
        const more = () => { while (!sock.destroyed && sentBytes < 64 << 20 && sock.write(chunk)) sentBytes += chunk.length; };
        sock.on('drain', more);
        more();
      });
      sock.on('error', () => undefined);
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    const s = new RtspSession({ cameraId: 'bloated', url: `rtsp://127.0.0.1:${port}/cam`, sink: { onAccessUnit: () => undefined } });
    try {
      await expect(s.start()).rejects.toMatchObject({ code: 'INGEST_RTSP_OVERSIZE', reason: 'too large', cameraId: 'bloated' });
      expect(sentBytes).toBeLessThan(64 << 20);
    } finally {
      await s.stop();
      server.close();
    }
  }, 30_000);
});
