import type { MqttClient } from 'mqtt';

/** Where beacons come from: a message callback on MQTT topic filters. */
export interface BeaconSource {
  /** `session` (an MQTT session logged in as the service user) or `in-process` (the embedded broker). */
  readonly kind: 'session' | 'in-process';
  /** Calls `onMessage` for each message on the filters (QoS 1); resolves once subscribed. */
  subscribe(filters: readonly string[], onMessage: (topic: string, payload: Uint8Array) => void): Promise<void>;
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
  return {
    kind: 'session',
    async subscribe(f, onMessage) {
      filters = f;
      listener = (topic, payload) => onMessage(topic, payload);
      client.on('message', listener);
      await client.subscribeAsync([...filters], { qos: 1 });
    },
    async unsubscribe() {
      if (listener) client.off('message', listener);
      listener = null;
      if (client.connected && filters.length) await client.unsubscribeAsync([...filters]).catch(() => undefined);
    },
  };
}
