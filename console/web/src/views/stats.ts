import type { ConsoleStats } from '../../../types.ts';
import { h, s, pct } from '../dom.ts';
import { t } from '../i18n.ts';
import { api } from '../store.ts';
import { categoryName, departmentName } from './common.ts';
import { indicatorsPanel } from './indicators.ts';

const PALETTE = ['#2f6fdf', '#f2a93b', '#3aa76d', '#d9534f', '#8e6bbf', '#4bb3c8', '#9c9c9c'];

function barChart(days: ConsoleStats['casesPerDay']): SVGSVGElement {
  const W = 1200, H = 240, L = 36, B = 28;
  const max = Math.max(1, ...days.map((d) => Math.max(d.opened, d.closed)));
  const bw = (W - L) / Math.max(1, days.length);
  const y = (v: number) => H - B - (v / max) * (H - B - 10);
  const svg = s('svg', { class: 'chart', id: 'chart-per-day', viewBox: `0 0 ${W} ${H}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = Math.round((max * i) / 4);
    svg.append(s('line', { x1: L, x2: W, y1: y(v), y2: y(v), class: 'grid' }), s('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, v));
  }
  days.forEach((d, i) => {
    const x = L + i * bw;
    svg.append(
      s('rect', { x: x + bw * 0.1, y: y(d.opened), width: bw * 0.38, height: H - B - y(d.opened), fill: PALETTE[0] }, s('title', {}, `${d.day} ${t('opened')} ${d.opened}`)),
      s('rect', { x: x + bw * 0.5, y: y(d.closed), width: bw * 0.38, height: H - B - y(d.closed), fill: PALETTE[2] }, s('title', {}, `${d.day} ${t('closedN')} ${d.closed}`)));
    if (days.length <= 16 || i % 2 === 0) svg.append(s('text', { x: x + bw / 2, y: H - 10, class: 'axis', 'text-anchor': 'middle' }, d.day.slice(5)));
  });
  return svg;
}

function donut(shares: ConsoleStats['categoryShares']): HTMLElement {
  const total = shares.reduce((a, b) => a + b.count, 0) || 1;
  const svg = s('svg', { class: 'chart donut', id: 'chart-categories', viewBox: '-110 -110 220 220' });
  let a0 = -Math.PI / 2;
  const legend = h('ul', { class: 'chart-legend' });
  shares.forEach((c, i) => {
    const frac = c.count / total;
    const a1 = a0 + frac * 2 * Math.PI;
    const color = PALETTE[i % PALETTE.length]!;
    const large = a1 - a0 > Math.PI ? 1 : 0;
    const pt = (a: number, r: number) => `${(Math.cos(a) * r).toFixed(2)} ${(Math.sin(a) * r).toFixed(2)}`;
    const d = frac >= 0.999 ? 'M 0 -100 A 100 100 0 1 1 -0.01 -100 L -0.01 -60 A 60 60 0 1 0 0 -60 Z'
      : `M ${pt(a0, 100)} A 100 100 0 ${large} 1 ${pt(a1, 100)} L ${pt(a1, 60)} A 60 60 0 ${large} 0 ${pt(a0, 60)} Z`;
    svg.append(s('path', { d, fill: color }, s('title', {}, `${categoryName(c.category)} ${pct(frac)}`)));
    const sw = h('span', { class: 'swatch' });
    sw.style.background = color;
    legend.append(h('li', {}, sw, `${categoryName(c.category)} ${c.count} (${pct(frac)})`));
    a0 = a1;
  });
  return h('div', { class: 'donut-wrap' }, svg, legend);
}

function rateBars(st: ConsoleStats): SVGSVGElement {
  const rows: [string, number][] = [[t('closureRate'), st.closureRate], [t('onTimeSign'), st.onTimeSignRate], [t('onTimeClose'), st.onTimeCloseRate]];
  const svg = s('svg', { class: 'chart', id: 'chart-rates', viewBox: `0 0 400 ${rows.length * 40}` });
  rows.forEach(([label, v], i) => {
    svg.append(s('text', { x: 0, y: i * 40 + 24, class: 'axis' }, label), s('rect', { x: 150, y: i * 40 + 8, width: 200, height: 22, class: 'track-bg' }),
      s('rect', { x: 150, y: i * 40 + 8, width: 200 * v, height: 22, fill: PALETTE[i === 0 ? 2 : 0] }), s('text', { x: 356, y: i * 40 + 24, class: 'axis' }, pct(v)));
  });
  return svg;
}

export function statsView() {
  const body = h('div', { class: 'stats-grid', id: 'stats' }, h('p', {}, t('loading')));
  let days = 14;
  const indicators = indicatorsPanel();
  async function load() {
    void indicators.load(Date.now() - days * 86_400_000);
    try {
      const st = await api<ConsoleStats>('GET', `/api/stats?days=${days}`);
      body.replaceChildren(
        h('div', { class: 'panel wide' }, h('h3', {}, t('casesPerDay')), barChart(st.casesPerDay)),
        h('div', { class: 'panel' }, h('h3', {}, t('categoryShares')), donut(st.categoryShares)),
        h('div', { class: 'panel' }, h('h3', {}, `${t('closureRate')} · ${t('onTimeSign')} · ${t('onTimeClose')}`), rateBars(st)),
        h('div', { class: 'panel' }, h('h3', {}, t('departments')), h('table', { id: 'dept-table' },
          h('thead', {}, h('tr', {}, ...[t('department'), t('casesN'), t('closedN'), t('onTimeSign'), t('onTimeClose')].map((x) => h('th', {}, x)))),
          h('tbody', {}, ...st.departments.map((d) => h('tr', {}, h('td', {}, departmentName(d.department)), h('td', {}, d.cases), h('td', {}, d.closed), h('td', {}, pct(d.onTimeSignRate)), h('td', {}, pct(d.onTimeCloseRate))))))),
        h('div', { class: 'panel' }, h('h3', {}, t('workerRanking')), h('table', { id: 'worker-table' },
          h('thead', {}, h('tr', {}, ...[t('rank'), t('worker'), t('reports'), t('closedN')].map((x) => h('th', {}, x)))),
          h('tbody', {}, ...st.workers.map((w, i) => h('tr', {}, h('td', {}, i + 1), h('td', {}, w.worker), h('td', {}, w.reports), h('td', {}, w.closed)))))),
        h('div', { class: 'panel' }, h('h3', {}, t('yellowLight')), h('ul', { class: 'yellow-light', id: 'yellow-light' }, ...st.yellowLight.map((w) => h('li', {}, w)))));
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
    }
  }
  const range = h('select', { id: 'stats-days' }, ...[7, 14, 30, 90].map((d) => h('option', { value: d, selected: d === days }, `${d} ${t('days')}`)));
  range.addEventListener('change', () => { days = Number(range.value); void load(); });
  void load();
  return { el: h('section', { class: 'view stats-view' }, h('div', { class: 'filters' }, range), indicators.el, body) };
}
