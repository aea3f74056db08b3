import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { CameraStatus, ConsoleHub, FrameSource } from '../console/index.ts';

/** Camera status between the nodes' consoles (core NATS; each node reports the cameras it ingests). */
export const CAMERAS_SUBJECT = 'gw.console.cameras';
/** Asks the node that ingests a camera for its latest frame JPEG. */
export const frameSubject = (cameraId: string) => `gw.console.frame.${Buffer.from(cameraId).toString('base64url')}`;

export interface CameraShareDeps {
  readonly nodeId: string;
  readonly nc: NatsConnection;
  readonly hub: ConsoleHub;
  /** The cameras this node ingests now: only it answers for their frames. */
  readonly owned: () => ReadonlySet<string>;
}

/**
 * The camera wall on every node: each node shares the status of the cameras it ingests, and a
 * console asks for the latest frame of a camera another node ingests on
 * `gw.console.frame.<camera>`, which only the ingesting node answers (frame capture time, 8
 * bytes, then the JPEG).
 */
export class CameraShare implements FrameSource {
  readonly #d: CameraShareDeps;
  readonly #subs: Subscription[] = [];
  #off: (() => void) | null = null;

  constructor(deps: CameraShareDeps) {
    this.#d = deps;
  }

  start(): void {
    const d = this.#d;
    this.#off = d.hub.onCameraStatus((status) => d.nc.publish(CAMERAS_SUBJECT, JSON.stringify({ node: d.nodeId, status })));
    this.#subs.push(d.nc.subscribe(CAMERAS_SUBJECT, { callback: (err, msg) => {
      if (err) return;
      let m: { node?: string; status?: CameraStatus };
      try { m = msg.json(); } catch { return; }
      if (m.node !== d.nodeId && typeof m.status?.cameraId === 'string' && !d.owned().has(m.status.cameraId)) d.hub.cameraStatus(m.status, { shared: true });
    } }));
    this.#subs.push(d.nc.subscribe('gw.console.frame.*', { callback: (err, msg) => {
      if (err) return;
      const cameraId = Buffer.from(msg.subject.slice('gw.console.frame.'.length), 'base64url').toString();
      const f = d.owned().has(cameraId) ? d.hub.frames.get(cameraId) : undefined;
      if (!f) return; // the node that ingests it answers; silence from the others
      d.hub.frameAsked(cameraId); // an operator on another node is watching it
      const out = new Uint8Array(8 + f.jpeg.byteLength);
      new DataView(out.buffer).setFloat64(0, f.ts);
      out.set(f.jpeg, 8);
      msg.respond(out);
    } }));
  }

  stop(): void {
    this.#off?.();
    for (const s of this.#subs.splice(0)) s.unsubscribe();
  }

  async frame(cameraId: string): Promise<{ jpeg: Uint8Array; ts: number } | null> {
    try {
      const reply = await this.#d.nc.request(frameSubject(cameraId), '', { timeout: 1500 });
      if (reply.data.length <= 8) return null;
      return { ts: new DataView(reply.data.buffer, reply.data.byteOffset, 8).getFloat64(0), jpeg: reply.data.subarray(8) };
    } catch {
      return null;
    }
  }
}
