import { GridwatchError } from '../core/index.ts';

/** The code a dispatch system or the console gets back when an action is not applied. */
export type CaseErrorCode = 'unknown_case' | 'wrong_department' | 'illegal_transition' | 'conflict' | 'bad_request';

/** An action on a case that was not applied; `reason` says why, `status` maps it to HTTP. */
export class CaseActionError extends GridwatchError {
  readonly reason: CaseErrorCode;
  constructor(reason: CaseErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(`ROUTER_${reason.toUpperCase()}`, message, { details, httpStatus: reason === 'unknown_case' ? 404 : reason === 'bad_request' ? 400 : 409 });
    this.reason = reason;
  }

  get status(): number {
    return this.httpStatus!;
  }
}

/** The router could not set up its streams, bucket or consumers. */
export class RouterStartError extends GridwatchError {
  constructor(message: string, cause?: unknown) {
    super('ROUTER_START', message, { cause });
  }
}
