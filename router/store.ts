import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureEventsStream, EVENTS_STREAM } from '../bus/index.ts';
import type { CaseRecord, Transition } from '../domain/index.ts';

export const CASES_BUCKET = 'gw_cases';
export const DISPATCH_STREAM = 'GW_DISPATCH';
export const CASE_LOG_STREAM = 'GW_CASE_LOG';
export const NOTIFY_STREAM = 'GW_NOTIFY';
const DUPLICATE_WINDOW_NS = 600 * 1e9;

export const dispatchSubject = (department: string) => `gw.dispatch.${department}`;
export const ackSubject = (department: string) => `gw.dispatch.ack.${department}`;
export const caseLogSubject = (id: string) => `gw.cases.log.${id}`;
export const dispatchDurable = (department: string) => `dispatch-${department.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** What a dispatch system receives on `gw.dispatch.<department>`. */
export interface DispatchOrder {
  readonly schema: 'gridwatch.dispatch/v1';
  readonly order_id: string;
  readonly case_id: string;
  readonly seq: number;
  readonly revision: number;
  /** `rework`: the supervision centre sent the resolved case back; handle it again (it stays signed). */
  readonly action: 'dispatch' | 'transfer' | 'rework';
  readonly department: string;
  readonly category: string;
  /** The category's codes (CJ/T 214, the city's list), when the city config gives them. */
  readonly standard_code?: string;
  readonly local_code?: string;
  readonly state: string;
  readonly place: CaseRecord['place'];
  readonly level: string;
  readonly report_count: number;
  /** evidence from the city's own cameras and terminals */
  readonly evidence: readonly string[];
  /**
   * links the public sent with Open311 requests (http(s), public hosts, ≤ 2048 characters, but
   * otherwise unchecked): fetch them without credentials and with a size limit, never as trusted
   */
  readonly citizen_media?: readonly { readonly url: string; readonly source: 'citizen' | 'hotline'; readonly reporter: string }[];
  readonly deadline: CaseRecord['deadline'];
  readonly ack_subject: string;
  readonly at: string;
  /** The event that led to this order, when one did. */
  readonly event_id?: string;
}

/** The notice on `gw.notify.<level>.<area>` when a deadline is missed or a case transferred. */
export interface Notice {
  readonly schema: 'gridwatch.notice/v1';
  readonly case_id: string;
  readonly seq: number;
  readonly kind: 'deadline_missed' | 'transfer' | 'escalate';
  readonly level?: string;
  readonly area?: string;
  readonly department: string;
  readonly missed: number;
  readonly reason?: string;
  readonly at: string;
}

export interface Entry {
  record: CaseRecord;
  revision: number;
}

/** The city's own evidence apart from the links the public sent (see `DispatchOrder.citizen_media`). */
function splitEvidence(c: CaseRecord): Pick<DispatchOrder, 'evidence' | 'citizen_media'> {
  const public_ = (r: CaseRecord['reports'][number]) => r.source.kind === 'citizen' || r.source.kind === 'hotline';
  const evidence = c.reports.filter((r) => !public_(r)).flatMap((r) => r.evidence).slice(0, 20);
  const media = c.reports.filter(public_).flatMap((r) => r.evidence.map((url) => ({ url, source: r.source.kind as 'citizen' | 'hotline', reporter: r.source.id }))).slice(0, 20);
  return media.length ? { evidence, citizen_media: media } : { evidence };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function isCasConflict(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(e?.message ?? '');
}

/**
 * Case state in a KV bucket (compare-and-set only), and the effects of each transition: the
 * transition log, dispatch orders and notices, each published with a deterministic `Nats-Msg-Id`
 * so that publishing it again after a crash is a no-op.
 */
export class CaseStore {
  readonly js: JetStreamClient;
  jsm!: JetStreamManager;
  kv!: KV;
  readonly #nc: NatsConnection;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.js = jetstream(nc);
  }

  /**
   * `replicas`: copies of the streams and the bucket on a NATS cluster (3 survives losing a
   * server). `keepMs` (routing.keep_closed_days): dispatch orders and notices are kept as long as
   * a closed case is, and no longer; a case's log goes with the case (`removeLog`). Applied to
   * streams that exist already, too.
   */
  async open(departments: readonly string[], opts: { replicas?: number; keepMs?: number } = {}): Promise<void> {
    this.jsm = await jetstreamManager(this.#nc);
    const replicas = opts.replicas;
    await ensureEventsStream(this.jsm, { replicas });
    await this.#stream(DISPATCH_STREAM, ['gw.dispatch.*'], replicas, opts.keepMs);
    await this.#stream(CASE_LOG_STREAM, ['gw.cases.log.>'], replicas);
    await this.#stream(NOTIFY_STREAM, ['gw.notify.>'], replicas, opts.keepMs);
    for (const d of departments) {
      const durable = dispatchDurable(d);
      try {
        await this.jsm.consumers.info(DISPATCH_STREAM, durable);
      } catch {
        await this.jsm.consumers.add(DISPATCH_STREAM, { durable_name: durable, filter_subject: dispatchSubject(d), ack_policy: 'explicit' as never, ack_wait: 30e9, max_deliver: -1 });
      }
    }
    const kvm = new Kvm(this.js);
    // An existing bucket made with other replicas is opened as it is.
    this.kv = await kvm.create(CASES_BUCKET, { history: 5, ...(replicas ? { replicas } : {}) }).catch(() => kvm.open(CASES_BUCKET));
  }

  /** The router's durable consumer on the events stream; ack_wait bounds the redelivery after a crash. */
  async ensureEventsConsumer(durable: string): Promise<void> {
    try {
      await this.jsm.consumers.info(EVENTS_STREAM, durable);
    } catch {
      await this.jsm.consumers.add(EVENTS_STREAM, { durable_name: durable, filter_subject: 'gw.events.>', ack_policy: 'explicit' as never, ack_wait: 10e9, max_ack_pending: 2000, max_deliver: -1 });
    }
  }

  async #stream(name: string, subjects: string[], replicas?: number, maxAgeMs?: number): Promise<void> {
    const maxAgeNs = maxAgeMs ? Math.round(maxAgeMs * 1e6) : 0;
    // JetStream refuses a duplicate window longer than the stream's max age.
    const cfg = { subjects, duplicate_window: maxAgeNs ? Math.min(DUPLICATE_WINDOW_NS, maxAgeNs) : DUPLICATE_WINDOW_NS, max_age: maxAgeNs, ...(replicas ? { num_replicas: replicas } : {}) };
    try {
      await this.jsm.streams.add({ name, ...cfg });
    } catch {
      await this.jsm.streams.update(name, cfg);
    }
  }

  async get(id: string): Promise<Entry | null> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return null;
    return { record: JSON.parse(dec.decode(e.value)) as CaseRecord, revision: e.revision };
  }

  /**
   * Purges a case and its history from the bucket, if it is still at `revision`; a case changed
   * since throws a CAS conflict and stays.
   */
  async remove(id: string, revision: number): Promise<void> {
    await this.kv.purge(id, { previousSeq: revision });
  }

  /** Creates a case; null when the key already exists (a retry of an earlier attempt). */
  async create(record: CaseRecord): Promise<number | null> {
    try {
      return await this.kv.create(record.id, enc.encode(JSON.stringify(record)));
    } catch (err) {
      if (isCasConflict(err)) return null;
      throw err;
    }
  }

  /** Compare-and-set: throws when the revision is no longer the latest (see `isCasConflict`). */
  update(record: CaseRecord, revision: number): Promise<number> {
    return this.kv.update(record.id, enc.encode(JSON.stringify(record)), revision);
  }

  /** Every case in the bucket, read in parallel batches. */
  async all(): Promise<Entry[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    const out: Entry[] = [];
    for (let i = 0; i < keys.length; i += 128) {
      const batch = await Promise.all(keys.slice(i, i + 128).map((k) => this.get(k)));
      for (const b of batch) if (b) out.push(b);
    }
    return out;
  }

  /** Drops a removed case's log: it lives as long as the case (its steps stay in ClickHouse). */
  async removeLog(id: string): Promise<void> {
    await this.jsm.streams.purge(CASE_LOG_STREAM, { filter: caseLogSubject(id) });
  }

  /** Log messages per case, to find transitions whose effects a crash cut short. */
  async loggedCounts(): Promise<Map<string, number>> {
    const info = await this.jsm.streams.info(CASE_LOG_STREAM, { subjects_filter: 'gw.cases.log.>' });
    const counts = new Map<string, number>();
    for (const [subject, n] of Object.entries(info.state.subjects ?? {})) counts.set(subject.slice('gw.cases.log.'.length), n as number);
    return counts;
  }

  /**
   * Publishes the effects of one transition: the dispatch order or notice first, then the log
   * entry, so that a logged transition always had its effects published.
   */
  async emit(c: CaseRecord, t: Transition, revision: number): Promise<void> {
    const msgID = `${c.id}:${t.seq}`;
    if (t.to === 'dispatched' && t.action === 'dispatch' || t.action === 'transfer' || t.action === 'rework') {
      const dept = t.department ?? c.department;
      const order: DispatchOrder = {
        schema: 'gridwatch.dispatch/v1', order_id: msgID, case_id: c.id, seq: t.seq, revision, action: t.action === 'transfer' || t.action === 'rework' ? t.action : 'dispatch',
        department: dept, category: c.category, ...(c.standard_code ? { standard_code: c.standard_code } : {}), ...(c.local_code ? { local_code: c.local_code } : {}), state: t.to, place: c.place, level: c.level, report_count: c.report_count,
        ...splitEvidence(c), deadline: t.deadline ? { kind: t.action === 'rework' ? 'resolve' : 'sign', at: t.deadline } : null,
        ack_subject: ackSubject(dept), at: t.at, ...(t.event_id ? { event_id: t.event_id } : {}),
      };
      await this.js.publish(dispatchSubject(dept), JSON.stringify(order), { msgID });
    }
    if (t.action === 'deadline_missed' || t.action === 'transfer' || t.action === 'escalate') {
      const subject = t.action === 'transfer' ? `gw.notify.transfer.${t.department}` : `gw.notify.${t.level ?? 'cell'}.${t.area ?? '_'}`;
      const notice: Notice = { schema: 'gridwatch.notice/v1', case_id: c.id, seq: t.seq, kind: t.action, level: t.level, area: t.area, department: t.department ?? c.department, missed: c.missed, reason: t.reason, at: t.at };
      await this.js.publish(subject, JSON.stringify(notice), { msgID });
    }
    await this.js.publish(caseLogSubject(c.id), JSON.stringify({ case_id: c.id, ...t }), { msgID });
  }
}
