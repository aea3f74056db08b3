import type { TuningRow } from '../../../types.ts';
import { h, pct } from '../dom.ts';
import { t } from '../i18n.ts';
import { api } from '../store.ts';

export function tuningView() {
  const body = h('div', { id: 'tuning' }, h('p', {}, t('loading')));
  async function load() {
    try {
      const { rows } = await api<{ rows: TuningRow[] }>('GET', '/api/tuning');
      body.replaceChildren(h('table', { id: 'tuning-table', class: 'wide' },
        h('thead', {}, h('tr', {}, ...[t('camera'), t('zone'), t('raised'), t('confirmedN'), t('dismissedN'), t('falseRate'), t('inferenceP50'), t('inferenceP99'), t('samples'), t('drops'), t('gating')].map((x) => h('th', {}, x)))),
        h('tbody', {}, ...rows.map((r) => {
          const share = r.raised ? r.dismissed / r.raised : 0;
          const bar = h('span', { class: 'bar' });
          bar.style.width = `${Math.round(share * 100)}%`;
          const ms = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(1));
          return h('tr', { 'data-camera-id': r.cameraId, 'data-zone-id': r.zoneId },
            h('td', {}, r.cameraId), h('td', {}, r.zoneId), h('td', { class: 'raised' }, r.raised), h('td', { class: 'confirmed' }, r.confirmed), h('td', { class: 'dismissed' }, r.dismissed),
            h('td', { class: 'false-rate' }, h('span', { class: 'bar-bg' }, bar), ` ${pct(share)}`), h('td', { class: 'p50' }, ms(r.inferenceMsP50)), h('td', { class: 'p99' }, ms(r.inferenceMsP99)),
            h('td', { class: 'samples' }, r.samples ?? '—'), h('td', { class: 'dropped' }, r.dropped ?? '—'), h('td', { class: 'gated' }, r.gatingSavedRatio === undefined ? '—' : pct(r.gatingSavedRatio)));
        }))));
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
    }
  }
  void load();
  const timer = setInterval(load, 10_000);
  return { el: h('section', { class: 'view tuning-view' }, h('h2', {}, t('tuning')), body), destroy: () => clearInterval(timer) };
}
