import { GridwatchError } from '../core/index.ts';

/** One problem in a config: where (`cameras[12].zones[0].polygon`) and what. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** The config breaks the schema or refers to things that do not exist. Carries every issue. */
export class ConfigInvalidError extends GridwatchError {
  readonly issues: readonly ConfigIssue[];
  constructor(file: string, issues: readonly ConfigIssue[]) {
    super('CONFIG_INVALID', `${file}: ${issues.length} error${issues.length === 1 ? '' : 's'}\n${issues.map(formatIssue).join('\n')}`, { details: { file } });
    this.issues = issues;
  }
}

/** The config file cannot be read or parsed. */
export class ConfigReadError extends GridwatchError {
  constructor(file: string, message: string, cause?: unknown) {
    super('CONFIG_READ', `${file}: ${message}`, { cause, details: { file } });
  }
}
