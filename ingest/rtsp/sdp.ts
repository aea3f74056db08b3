/** The one video track gridwatch reads from a session description. */
export interface SdpVideo {
  codec: 'H264' | 'H265' | string;
  payloadType: number;
  clockRate: number;
  /** `a=control` value, possibly relative. */
  control: string;
  /** Parameter sets from `sprop-parameter-sets` / `sprop-vps/sps/pps`, without start codes. */
  parameterSets: Uint8Array[];
}

export interface SdpInfo {
  video: SdpVideo | undefined;
  /** Media kinds present (`audio`, `application`...), for a useful "no video" message. */
  media: string[];
  sessionControl: string | undefined;
}

/** Parses the parts of an SDP (RFC 4566) we need: the first video media and its fmtp. */
export function parseSdp(text: string): SdpInfo {
  const media: string[] = [];
  let video: SdpVideo | undefined;
  let inVideo = false;
  let sessionControl: string | undefined;
  let fmtp = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const [kind, , , pt] = line.slice(2).split(/\s+/);
      media.push(kind ?? '');
      inVideo = kind === 'video' && video === undefined;
      if (inVideo) video = { codec: '', payloadType: Number(pt), clockRate: 90_000, control: '', parameterSets: [] };
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const attr = line.slice(2);
    if (media.length === 0) {
      if (attr.startsWith('control:')) sessionControl = attr.slice(8).trim();
      continue;
    }
    if (!inVideo || !video) continue;
    if (attr.startsWith('rtpmap:')) {
      const m = /^rtpmap:(\d+)\s+([^/\s]+)\/(\d+)/.exec(attr);
      if (m && Number(m[1]) === video.payloadType) { video.codec = m[2]!.toUpperCase(); video.clockRate = Number(m[3]); }
    } else if (attr.startsWith('fmtp:')) {
      fmtp = attr.slice(attr.indexOf(' ') + 1);
    } else if (attr.startsWith('control:')) {
      video.control = attr.slice(8).trim();
    }
  }
  if (video) {
    if (video.codec === '') video.codec = video.payloadType === 96 ? '' : `pt ${video.payloadType}`;
    const params: Record<string, string> = {};
    for (const kv of fmtp.split(';')) {
      const eq = kv.indexOf('=');
      if (eq > 0) params[kv.slice(0, eq).trim().toLowerCase()] = kv.slice(eq + 1).trim();
    }
    const b64 = (s: string | undefined): Uint8Array[] => (s ? s.split(',').filter(Boolean).map((p) => new Uint8Array(Buffer.from(p, 'base64'))).filter((b) => b.length > 0) : []);
    video.parameterSets = video.codec === 'H265'
      ? [...b64(params['sprop-vps']), ...b64(params['sprop-sps']), ...b64(params['sprop-pps'])]
      : b64(params['sprop-parameter-sets']);
  }
  return { video, media, sessionControl };
}

/** Resolves a control attribute against the base URL (RFC 2326 C.1.1). */
export function resolveControl(base: string, control: string): string {
  if (control === '' || control === '*') return base;
  if (/^rtsps?:\/\//i.test(control)) return control;
  return base.endsWith('/') ? base + control : `${base}/${control}`;
}
