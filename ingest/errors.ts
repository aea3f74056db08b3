import { GridwatchError } from '../core/index.ts';

/** Why a camera is not streaming, in words an operator can act on. */
export type FailReason =
  | '401' | '404' | '403' | 'refused' | 'unreachable' | 'timeout' | 'unsupported codec' | 'no video'
  | 'closed by server' | 'protocol error' | 'too large' | 'stalled' | 'redirect loop' | 'ffmpeg exited' | `rtsp ${number}`;

export class IngestError extends GridwatchError {
  readonly reason: FailReason;
  readonly cameraId: string | undefined;
  constructor(code: string, reason: FailReason, message: string, options: { cause?: unknown; cameraId?: string; details?: Record<string, unknown> } = {}) {
    super(code, message, { cause: options.cause, details: { ...options.details, reason, cameraId: options.cameraId } });
    this.reason = reason;
    this.cameraId = options.cameraId;
  }
}

/** TCP connect failed, timed out or the server closed the connection. */
export class RtspConnectError extends IngestError {
  constructor(reason: FailReason, message: string, options: { cause?: unknown; cameraId?: string } = {}) {
    super('INGEST_RTSP_CONNECT', reason, message, options);
  }
}

/** The server answered with a status we cannot go on from (401, 404, ...). */
export class RtspStatusError extends IngestError {
  readonly status: number;
  constructor(status: number, method: string, url: string, options: { cameraId?: string } = {}) {
    const reason: FailReason = status === 401 ? '401' : status === 404 ? '404' : status === 403 ? '403' : `rtsp ${status}`;
    const hint = status === 401 ? 'check the camera username and password' : status === 404 ? 'check the camera URL path' : 'see the camera documentation';
    super('INGEST_RTSP_STATUS', reason, `camera ${options.cameraId ?? '?'}: ${method} ${url} answered ${status}: ${hint}`, { ...options, details: { status, method, url } });
    this.status = status;
  }
}

/** The stream is not something we can depacketise (no video, or a codec other than H.264/H.265). */
export class RtspMediaError extends IngestError {
  constructor(reason: 'unsupported codec' | 'no video', message: string, options: { cameraId?: string } = {}) {
    super('INGEST_RTSP_MEDIA', reason, message, options);
  }
}

/** The server broke the protocol: bad response line, missing header, unparseable SDP. */
export class RtspProtocolError extends IngestError {
  constructor(message: string, options: { cause?: unknown; cameraId?: string } = {}) {
    super('INGEST_RTSP_PROTOCOL', 'protocol error', message, options);
  }
}

/** The server sent more than a bound allows (an RTSP body, a header, an access unit): the camera fails, the engine's memory stays bounded. */
export class RtspOversizeError extends IngestError {
  constructor(what: string, bytes: number, limit: number, options: { cameraId?: string } = {}) {
    super('INGEST_RTSP_OVERSIZE', 'too large', `camera ${options.cameraId ?? '?'}: ${what} of ${bytes} bytes is over the limit of ${limit}; a camera does not send that, check the URL points at a camera`, { ...options, details: { what, bytes, limit } });
  }
}

/** No data for longer than the stall timeout. */
export class StreamStalledError extends IngestError {
  constructor(cameraId: string, silentMs: number) {
    super('INGEST_STALLED', 'stalled', `camera ${cameraId} sent no data for ${silentMs} ms`, { cameraId, details: { silentMs } });
  }
}

/** A decoder process died or produced no frame in time. */
export class DecodeError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('INGEST_DECODE', message, options);
  }
}

/** The camera farm simulator could not prepare or serve its clip. */
export class CameraFarmError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('INGEST_SIM', message, options);
  }
}
