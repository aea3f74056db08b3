import type { MqttClient } from 'mqtt';

/** Where beacons come from: a message callback on MQTT topic filters. */
export interface BeaconSource {
  /** `session` (an MQTT session logged in as the service user) or `in-process` (the embedded broker). */
  readonly kind: 'session' | 'in-process';
  /**
   * Calls `onMessage` for each message on the filters (QoS 1); resolves once subscribed. When
   * `onMessage` returns a promise, the in-process source acknowledges the message only once it
   * resolves (the rows are safe); a session on an external broker acknowledges at once.
   */
  subscribe(filters: readonly string[], onMessage: (topic: string, payload: Uint8Array) => void | Promise<void>): Promise<void>;
  /** Stops the messages; what was delivered before has been handed to `onMessage`. */
  unsubscribe(): Promise<void>;
}

/**
 * Beacons through an MQTT session of the service user: the way in from an external broker
 * (Mosquitto, EMQX). The session is persistent, so the broker keeps what arrives while
 * gridwatch is away.
 */
export function sessionSource(client: MqttClient): BeaconSource {
  let filters: readonly string[] = [];
  let listener: ((topic: string, payload: Buffer) => void) | null = null;
  // The PUBACKs for one read's worth of messages leave in one write, not one syscall each.
  let corked: { uncork(): void } | null = null;
  const cork = (): void => {
    const stream = client.stream as unknown as { cork?: () => void; uncork(): void } | undefined;
    if (corked || !stream?.cork) return;
    stream.cork();
    corked = stream;
    setImmediate(() => { corked?.uncork(); corked = null; });
  };
  return {
    kind: 'session',
    async subscribe(f, onMessage) {
      filters = f;
      // mqtt.js sends the PUBACK itself, after this listener (see beacons/README.md, "Never lost").
      listener = (topic, payload) => void Promise.resolve(onMessage(topic, payload)).catch(() => undefined);
      client.on('message', listener);
      client.on('packetreceive', cork);
      await client.subscribeAsync([...filters], { qos: 1 });
    },
    async unsubscribe() {
      if (listener) client.off('message', listener);
      client.off('packetreceive', cork);
      listener = null;
      if (client.connected && filters.length) await client.unsubscribeAsync([...filters]).catch(() => undefined);
    },
  };
}
