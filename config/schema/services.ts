import { Type, type Static } from 'typebox';
import { Strict, Section } from './common.ts';

/** Where the engine's services live. No URL means: run the embedded one. */
export const Services = Section({
  node_id: Type.Optional(Type.String({ minLength: 1 })),
  data_dir: Type.String({ default: './data', description: 'relative to the working directory' }),
  http: Section({
    host: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    ops_token: Type.Optional(Type.String({ minLength: 24, maxLength: 256, description: 'lets programs read /metrics, /api/cluster and /api/stats with `Authorization: Bearer <token>` (also GRIDWATCH_OPS_TOKEN); without it only console sessions can' })),
  }, { description: 'console, API, /healthz and /metrics' }),
  console: Section({
    session_idle_s: Type.Number({ exclusiveMinimum: 0, default: 8 * 3600, description: 'a console session ends after this long without a request' }),
    session_max_s: Type.Number({ exclusiveMinimum: 0, default: 12 * 3600, description: 'and after this long in any case' }),
    secure_cookies: Type.Boolean({ default: false, description: 'mark session cookies Secure (set when served over HTTPS)' }),
    replay_messages: Type.Integer({ minimum: 100, default: 20000, description: 'live messages kept for clients that reconnect; one further behind gets a snapshot' }),
    evidence_retention_days: Type.Number({ exclusiveMinimum: 0, default: 90, description: "alerts are loaded and their evidence JPEGs kept and served this long; older evidence folders are removed" }),
  }, { description: 'the operator console' }),
  open311: Section({
    jurisdiction_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: "GeoReport v2's jurisdiction_id; a request naming another one is refused (one that names none is served)" })),
    post_per_minute: Type.Integer({ minimum: 1, maximum: 10_000, default: 30, description: 'new requests each client may POST per minute (a burst of as many, then one every 60/n s)' }),
    clients: Type.Array(Strict({
      id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: "the client's name, in logs and as the reporter of its requests" }),
      api_key: Type.String({ minLength: 24, maxLength: 256, description: 'sent as the api_key parameter (or an X-Api-Key header); compared in constant time' }),
      department: Type.Optional(Type.String({ description: "a department's id: the client reads only that department's cases (with status notes), like its clerks" })),
      read: Type.Boolean({ default: true, description: 'may read requests and updates' }),
      report: Type.Boolean({ default: true, description: 'may POST new requests (citizen reports)' }),
    }), { default: [], maxItems: 1000 }),
  }, { description: 'the Open311 GeoReport v2 API: every client needs a key; console users may read with their session' }),
  nats: Section({
    url: Type.Optional(Type.String({ pattern: '^(nats|tls)://' })),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 0, description: 'embedded nats-server port; 0 picks a free one' }),
  }),
  mqtt: Section({
    url: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?|tcp)://' })),
    host: Type.String({ default: '127.0.0.1', description: 'embedded broker bind address' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883, description: 'embedded broker port' }),
    username: Type.Optional(Type.String({ description: 'service user gridwatch connects as' })),
    password: Type.Optional(Type.String()),
    max_connections_per_address: Type.Integer({ minimum: 0, default: 100, description: 'embedded broker: open connections from one IP address at most (0: no limit); raise it for terminals behind one NAT' }),
  }),
  cluster: Section({
    lease_ms: Type.Integer({ minimum: 1000, default: 10_000, description: 'a camera lease not renewed for this long moves to another node' }),
    tick_ms: Type.Integer({ minimum: 100, default: 2_000, description: 'how often leases are renewed and assignments reconciled' }),
    replicas: Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'copies of the lease and leader buckets and of the router streams and case bucket; 3 on a 3-server NATS cluster' }),
  }, { description: 'cameras shared between nodes through JetStream KV leases' }),
  clickhouse: Section({
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
    database: Type.String({ default: 'gridwatch', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    writer: Section({
      batch_max_rows: Type.Integer({ minimum: 1, default: 10_000, description: 'a table buffer becomes a batch at this many rows' }),
      batch_max_bytes: Type.Integer({ minimum: 1024, default: 4_194_304, description: 'or at this many encoded bytes' }),
      flush_interval_ms: Type.Integer({ minimum: 10, default: 1000, description: 'or when its oldest row is this old' }),
      max_queued_batches: Type.Integer({ minimum: 1, default: 4, description: 'batches held in memory behind the one in flight; more go to the spool' }),
      spool_max_mb: Type.Number({ exclusiveMinimum: 0, default: 512, description: 'on-disk queue in <data>/telemetry-spool used while ClickHouse is down or slow' }),
      insert_timeout_ms: Type.Integer({ minimum: 100, default: 30_000, description: 'a slower insert is treated as failed and replayed (deduplicated)' }),
      retry_initial_ms: Type.Integer({ minimum: 1, default: 250 }),
      retry_max_ms: Type.Integer({ minimum: 1, default: 30_000 }),
      commit_interval_ms: Type.Integer({ minimum: 1, default: 100, description: 'rows someone waits on (a terminal message before its acknowledgement) are sealed and written to disk at most this long after' }),
    }, { description: 'telemetry writer' }),
  }),
});

export type ServicesT = Static<typeof Services>;
