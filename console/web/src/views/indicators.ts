import { h, pct } from '../dom.ts';
import { t } from '../i18n.ts';
import { api } from '../store.ts';
import { areaName, categoryName, departmentName, select } from './common.ts';

/** One row of `GET /api/stats/indicators` (telemetry/stats-routes.ts); definitions in docs/telemetry.md. */
interface IndicatorRow {
  key: string;
  reported: number; filed: number; closed: number; reworked: number;
  on_time_filing_rate: number | null; accurate_dispatch_rate: number | null; on_time_handling_rate: number | null;
  closure_rate: number | null; on_time_closure_rate: number | null; rework_rate: number | null; repeat_rate: number | null;
}
type Rate = 'on_time_filing_rate' | 'accurate_dispatch_rate' | 'on_time_handling_rate' | 'closure_rate' | 'on_time_closure_rate' | 'rework_rate' | 'repeat_rate';
const BY = ['', 'department', 'cell', 'street', 'category'] as const;

/** A rate as shown: "—" where its denominator was zero (the API answers null). */
const rate = (v: number | null) => (v === null ? '—' : pct(v));

/**
 * The assessment indicators (GB/T 30428's 按时立案率 … 重复案件率) over the statistics view's
 * period, as a whole or by department, cell, street or category. The API is guarded by the
 * `stats` permission, like the rest of the view.
 */
export function indicatorsPanel(): { el: HTMLElement; load: (fromMs: number) => Promise<void> } {
  const columns: [Rate, string][] = [
    ['on_time_filing_rate', t('indOnTimeFiling')], ['accurate_dispatch_rate', t('indAccurateDispatch')],
    ['on_time_handling_rate', t('indOnTimeHandling')], ['closure_rate', t('closureRate')],
    ['on_time_closure_rate', t('indOnTimeClosure')], ['rework_rate', t('indRework')], ['repeat_rate', t('indRepeat')],
  ];
  const byLabel: Record<(typeof BY)[number], string> = { '': t('all'), department: t('department'), cell: t('cell'), street: t('street'), category: t('category') };
  const keyName = (key: string): string =>
    by === 'department' ? departmentName(key) : by === 'category' ? categoryName(key) : by === 'cell' || by === 'street' ? areaName(key) : t('all');
  let by: (typeof BY)[number] = '';
  let fromMs = Date.now() - 14 * 86_400_000;
  const table = h('table', { id: 'indicator-table' });
  const picker = select('indicators-by', BY.map((b) => [b, byLabel[b]]), by, (v) => { by = v as typeof by; void load(fromMs); });
  async function load(from: number): Promise<void> {
    fromMs = from;
    try {
      const q = new URLSearchParams({ from: String(Math.floor(from)) });
      if (by) q.set('by', by);
      const res = await api<{ by: string | null; indicators: IndicatorRow[] }>('GET', `/api/stats/indicators?${q}`);
      table.dataset.by = res.by ?? '';
      table.replaceChildren(
        h('thead', {}, h('tr', {}, h('th', {}, byLabel[by]), h('th', {}, t('reports')), h('th', {}, t('closedN')), h('th', {}, t('reworkedN')), ...columns.map(([, label]) => h('th', {}, label)))),
        h('tbody', {}, ...res.indicators.map((r) => h('tr', { 'data-key': r.key },
          h('td', { class: 'key' }, keyName(r.key)), h('td', { class: 'reported' }, r.reported), h('td', { class: 'closed' }, r.closed), h('td', { class: 'reworked' }, r.reworked),
          ...columns.map(([k]) => h('td', { class: k }, rate(r[k])))))));
    } catch (err) {
      table.replaceChildren(h('tbody', {}, h('tr', {}, h('td', { class: 'error' }, (err as Error).message))));
    }
  }
  const el = h('div', { class: 'panel wide', id: 'indicators' }, h('h3', {}, t('indicators'), ' ', picker), table);
  return { el, load };
}
