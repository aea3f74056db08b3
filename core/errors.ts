/**
 * The base of every gridwatch error. A user sees `code` and the message, never a stack
 * trace for bad input. Each module declares its own subclasses in its `errors.ts`.
 */
export class GridwatchError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;
  /**
   * The HTTP status this error answers with when a route throws it (400 bad input, 404 not
   * found, 409 refused…); none for a failure that is not the caller's (answered 500).
   */
  readonly httpStatus: number | undefined;

  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown>; httpStatus?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    this.httpStatus = options.httpStatus;
  }

  /** One line for logs and command output: `CODE: message`. */
  describe(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof GridwatchError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}
