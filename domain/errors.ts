import { GridwatchError } from '../core/index.ts';

/** An event that does not follow the event schema. */
export class EventInvalidError extends GridwatchError {
  constructor(where: string, issues: readonly string[]) {
    super('EVENT_INVALID', `invalid event from ${where}: ${issues.join('; ')}`, { details: { where, issues } });
  }
}
