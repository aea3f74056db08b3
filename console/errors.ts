import { GridwatchError } from '../core/index.ts';

export class ConsoleUsersFileError extends GridwatchError {
  constructor(file: string, cause: unknown) {
    super('CONSOLE_USERS_FILE', `cannot read the console users file ${file}: fix or remove it (a new admin is created when it is missing)`, { cause, details: { file } });
  }
}

export class ConsoleZoneInvalidError extends GridwatchError {
  constructor(cameraId: string, issues: readonly string[]) {
    super('CONSOLE_ZONE_INVALID', `zones of camera ${cameraId} are invalid: ${issues.join('; ')}`, { details: { cameraId, issues }, httpStatus: 400 });
  }
}

export class ConsoleNotFoundError extends GridwatchError {
  constructor(what: string, id: string) {
    super('CONSOLE_NOT_FOUND', `${what} ${id} not found`, { details: { what, id }, httpStatus: 404 });
  }
}

export class ConsoleActionRefusedError extends GridwatchError {
  constructor(action: string, caseId: string, state: string) {
    super('CONSOLE_ACTION_REFUSED', `case ${caseId} in state ${state} does not allow ${action}`, { details: { action, caseId, state }, httpStatus: 409 });
  }
}

export class ConsoleLoginBusyError extends GridwatchError {
  constructor() {
    super('CONSOLE_LOGIN_BUSY', 'too many log-ins are being checked right now; try again in a second', { httpStatus: 503 });
  }
}

export class ConsolePasswordChangeError extends GridwatchError {
  constructor(reason: string) {
    super('CONSOLE_PASSWORD_CHANGE', reason, { httpStatus: 400 });
  }
}
