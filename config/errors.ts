import type { Document } from 'yaml';
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

/**
 * A parsed YAML document as plain data. Aliases are resolved here, and the `yaml` package throws
 * a bare ReferenceError for one whose anchor is missing or that expands too far (an alias bomb):
 * that becomes a config error naming the line of the alias.
 */
export function yamlToJs(doc: Document, text: string, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    const name = /alias[^:]*: (\S+)/i.exec((err as Error).message)?.[1];
    const index = name ? text.search(new RegExp(`\\*${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`)) : -1;
    const line = index >= 0 ? text.slice(0, index).split('\n').length : undefined;
    throw new ConfigInvalidError(file, [{ path: line ? `line ${line}` : 'aliases', message: `${(err as Error).message.split('\n')[0]}; fix or remove the alias (*name)` }]);
  }
}
