import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { ConfigIssue } from './errors.ts';

/** `/cameras/12/zones/0/polygon` → `cameras[12].zones[0].polygon` */
function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out;
}

export function joinPath(base: string, key: string | number): string {
  return typeof key === 'number' ? `${base}[${key}]` : base ? `${base}.${key}` : key;
}

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function describe(e: SchemaError, value: unknown): string | null {
  const p = e.params;
  switch (e.keyword) {
    case 'boolean':
      return null; // reported once by `additionalProperties`
    case 'required':
      return null; // expanded per key by the caller
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}; got ${JSON.stringify(value)}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}; got ${JSON.stringify(value)}`;
    case 'type':
      return `must be ${p.type === 'array' ? 'a list' : p.type === 'object' ? 'a mapping' : `a ${p.type}`}; got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`;
    case 'minItems':
      return `needs at least ${p.limit} item${p.limit === 1 ? '' : 's'}`;
    case 'maxItems':
      return `allows at most ${p.limit} item${p.limit === 1 ? '' : 's'}`;
    case 'minLength':
      return p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters`;
    case 'maxLength':
      return `must be at most ${p.limit} characters`;
    case 'pattern':
      return `${JSON.stringify(value)} does not match ${String(p.pattern)}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${p.comparison} ${p.limit}; got ${JSON.stringify(value)}`;
    default:
      return e.message;
  }
}

function valueAt(root: unknown, pointer: string): unknown {
  let v: unknown = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

/** Every schema error of `value`, one issue each, worded for a person editing YAML. */
export function schemaIssues(schema: TSchema, value: unknown, prefix = ''): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (path: string, message: string) => {
    const key = `${path}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push({ path, message });
    }
  };
  const base = (pointer: string) => {
    const p = pointerToPath(pointer);
    return prefix ? (p ? (p.startsWith('[') ? prefix + p : `${prefix}.${p}`) : prefix) : p;
  };
  for (const e of Value.Errors(schema, value) as Iterable<SchemaError>) {
    if (e.keyword === 'additionalProperties') {
      for (const key of e.params.additionalProperties as string[]) add(joinPath(base(e.instancePath), key), 'unknown key');
      continue;
    }
    if (e.keyword === 'required') {
      for (const key of e.params.requiredProperties as string[]) add(joinPath(base(e.instancePath), key), 'is required');
      continue;
    }
    const message = describe(e, valueAt(value, e.instancePath));
    if (message) add(base(e.instancePath), message);
  }
  return issues;
}
