import { h } from '../dom.ts';
import { nameOf, t } from '../i18n.ts';
import { store } from '../store.ts';

export function categoryName(code: string): string {
  return nameOf(store.city?.categories.find((c) => c.code === code), code);
}

export function departmentName(id: string): string {
  return nameOf(store.city?.departments.find((d) => d.id === id), id);
}

export function areaName(id: string): string {
  return nameOf(store.city?.areas.find((a) => a.id === id), id);
}

export function toast(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const el = h('div', { class: `toast toast-${kind}`, role: 'status' }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

export function select(id: string, options: [string, string][], value: string, onchange: (v: string) => void): HTMLSelectElement {
  const el = h('select', { id }, ...options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
  el.addEventListener('change', () => onchange(el.value));
  return el;
}

export function allOption(): [string, string] {
  return ['', t('all')];
}
