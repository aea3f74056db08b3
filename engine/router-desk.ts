import { CAMERA_RULES } from '../config/index.ts';
import { cameraEventAt, categoryCodes, type CameraEventType, type CaseRecord, type ConsoleAction, type GridEventT } from '../domain/index.ts';
import type { CaseRouter } from '../router/index.ts';
import type { Actor, CaseActions, ConsoleAlert, ConsoleCase, ConsoleFeed } from '../console/index.ts';

/** An operator's verdict on a camera alert. */
export interface Verdict {
  readonly alert: ConsoleAlert;
  readonly verdict: 'confirmed' | 'dismissed';
  readonly caseId?: string | undefined;
  readonly operator: string;
  readonly reason?: string;
}

/** The router's case record as the console shows it. */
export function consoleCase(c: CaseRecord, workerOf: (terminalId: string) => string | undefined = () => undefined): ConsoleCase {
  const ms = (iso: string) => Date.parse(iso);
  return {
    id: c.id,
    state: c.state,
    category: c.category,
    cell: c.place.path[c.place.path.length - 1] ?? '',
    path: c.place.path,
    lat: c.place.lat,
    lon: c.place.lon,
    departments: [c.department],
    createdAt: ms(c.created_at),
    updatedAt: ms(c.updated_at),
    ...(c.deadline?.kind === 'sign' ? { signDeadline: ms(c.deadline.at) } : {}),
    ...(c.deadline?.kind === 'resolve' ? { resolveDeadline: ms(c.deadline.at) } : {}),
    missedDeadlines: c.missed,
    ...(c.reworks ? { reworks: c.reworks } : {}),
    alerts: c.reports.map((r) => r.event_id),
    timeline: c.history.map((t) => ({ ts: ms(t.at), state: t.to, actor: t.actor, ...(t.reason ? { note: t.reason } : {}) })),
    // The worker who reported it, by name, as the ranking counts them.
    ...(c.reports[0]?.source.kind === 'terminal' ? { reporter: workerOf(c.reports[0].source.id) ?? c.reports[0].source.id } : {}),
  };
}

/** An alert the operator confirmed, as the event that opens (or joins) its case. */
function alertEvent(a: ConsoleAlert, city: CaseRouter['city']): GridEventT {
  const type = (CAMERA_RULES as readonly string[]).includes(a.category) ? (a.category as CameraEventType) : 'illegal_parking';
  const event = cameraEventAt({
    id: a.id, type, category: a.category, codes: categoryCodes(city, a.category),
    cameraId: a.cameraId, zoneId: a.zoneId, class: a.className, box: a.box ?? [0, 0, 0, 0], dwell_s: a.dwellS, score: a.score,
    firstSeen: new Date(a.ts - a.dwellS * 1000), confirmedAt: new Date(a.ts), evidence: [],
  }, a);
  if (!a.box) delete event.object;
  return event;
}

/**
 * The console's case actions, carried out by the router, and the router's case changes pushed
 * into the console's feed. Camera violations reach the router as events by themselves; an
 * operator's confirmation finds the case the event made (or publishes the event when it was not).
 *
 * On a standby node (another node's router is the active one) the same calls work: reads come
 * from the router's live view of the cases bucket, and actions are applied here with the store's
 * compare-and-set writes rather than forwarded to the leader over NATS. CAS already makes any
 * number of writers safe (a concurrent change is a `conflict`, as between two operators on one
 * node), effects are published with deterministic msg ids, and actions keep working while the
 * leader is being replaced, where a forward would fail until a new leader answers.
 */
export class RouterCaseDesk implements CaseActions {
  readonly #router: CaseRouter;
  readonly #workerOf: (terminalId: string) => string | undefined;
  #unsubscribe: (() => void) | null = null;

  readonly #onVerdict: (v: Verdict) => void;

  /** `onVerdict` records each operator verdict (for the detector false-positive statistics). */
  constructor(router: CaseRouter, onVerdict: (v: Verdict) => void = () => undefined) {
    this.#router = router;
    this.#onVerdict = onVerdict;
    this.#workerOf = (id) => router.city.terminals.get(id)?.worker;
  }

  /** Pushes every case now, and every change from now on, into the console's feed. */
  attach(feed: ConsoleFeed): void {
    this.#unsubscribe?.();
    const offChanged = this.#router.onTransition((c) => feed.caseChanged(consoleCase(c, this.#workerOf)));
    const offRemoved = this.#router.onRemove((id) => feed.caseRemoved(id));
    this.#unsubscribe = () => (offChanged(), offRemoved());
    for (const c of this.#router.list({})) feed.caseChanged(consoleCase(c, this.#workerOf));
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  async #caseOf(eventId: string, timeoutMs = 5000): Promise<ConsoleCase> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const id = this.#router.casesOfEvent(eventId)[0];
      const c = id ? this.#router.get(id) : null;
      if (c) return consoleCase(c, this.#workerOf);
      if (Date.now() > until) throw new Error(`the router made no case for ${eventId} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async confirmAlert(alert: ConsoleAlert, actor: Actor): Promise<ConsoleCase> {
    if (this.#router.casesOfEvent(alert.id).length === 0) await this.#router.publish(alertEvent(alert, this.#router.city));
    const c = await this.#caseOf(alert.id);
    this.#onVerdict({ alert, verdict: 'confirmed', caseId: c.id, operator: actor.username });
    return c;
  }

  /**
   * A false positive: the router records the dismissal and the cases of its event end invalid,
   * whether the event was routed before, while or after (a case other reports joined stays).
   */
  async dismissAlert(alert: ConsoleAlert, actor: Actor, reason: string): Promise<void> {
    const invalidated = await this.#router.dismissEvent(alert.id, { actor: actor.username, reason });
    this.#onVerdict({ alert, verdict: 'dismissed', caseId: invalidated[0] ?? this.#router.casesOfEvent(alert.id)[0], operator: actor.username, reason });
  }

  async #act(caseId: string, action: ConsoleAction, actor: Actor, extra: { reason?: string; to_department?: string } = {}): Promise<ConsoleCase> {
    const e = await this.#router.consoleAction(caseId, { action, actor: actor.username, ...extra });
    return consoleCase(e.record, this.#workerOf);
  }

  dispatch(caseId: string, actor: Actor, departments?: readonly string[]): Promise<ConsoleCase> {
    return this.#act(caseId, 'dispatch', actor, departments?.[0] ? { to_department: departments[0] } : {});
  }
  returnCase(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    return this.#act(caseId, 'return', actor, { reason });
  }
  escalate(caseId: string, actor: Actor): Promise<ConsoleCase> {
    return this.#act(caseId, 'escalate', actor);
  }
  verifyClose(caseId: string, actor: Actor): Promise<ConsoleCase> {
    return this.#act(caseId, 'close', actor);
  }
  file(caseId: string, actor: Actor): Promise<ConsoleCase> {
    return this.#act(caseId, 'file', actor);
  }
  rework(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    return this.#act(caseId, 'rework', actor, { reason });
  }
  reopen(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    return this.#act(caseId, 'reopen', actor, { reason });
  }
  markInvalid(caseId: string, actor: Actor, reason: string): Promise<ConsoleCase> {
    return this.#act(caseId, 'invalidate', actor, { reason });
  }
  transfer(caseId: string, actor: Actor, department: string): Promise<ConsoleCase> {
    return this.#act(caseId, 'transfer', actor, { to_department: department });
  }
}
