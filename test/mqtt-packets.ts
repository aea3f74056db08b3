/**
 * MQTT 3.1.1 packets written by hand, for the tools that speak to the broker below mqtt.js: the
 * fuzz test's malformed input and the lean terminals of the load benchmarks.
 */

/** The variable-length integer of MQTT's fixed header (remaining length). */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A length-prefixed UTF-8 string (or raw bytes, for malformed input). */
export function mqttString(s: string | Buffer): Buffer {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}

/** A CONNECT with user name and password, clean session. */
export function connectPacket(clientId: string, username: string, password: string, keepaliveS = 60): Buffer {
  const body = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0xc2, keepaliveS >> 8, keepaliveS & 0xff]), mqttString(clientId), mqttString(username), mqttString(password)]);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

/** A QoS 0 PUBLISH. */
export function publishPacket(topic: string, payload: Buffer): Buffer {
  const body = Buffer.concat([mqttString(topic), payload]);
  return Buffer.concat([Buffer.from([0x30]), varint(body.length), body]);
}
