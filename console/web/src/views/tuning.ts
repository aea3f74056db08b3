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
        h('thead', {}, h('tr', {}, ...[t('camera'), t('zone'), t('raised'), t('confirmedN'), t('dismissedN'), t('falseRate'), t('inferenceMs'), t('drops'), t('gating')].map((x) => h('th', {}, x)))),
        h('tbody', {}, ...rows.map((r) => {
          const share = r.raised ? r.dismissed / r.raised : 0;
          const bar = h('span', { class: 'bar' });
          bar.style.width = `${Math.round(share * 100)}%`;
          return h('tr', { 'data-camera-id': r.cameraId, 'data-zone-id': r.zoneId },
            h('td', {}, r.cameraId), h('td', {}, r.zoneId), h('td', { class: 'raised' }, r.raised), h('td', { class: 'confirmed' }, r.confirmed), h('td', { class: 'dismissed' }, r.dismissed),
            h('td', {}, h('span', { class: 'bar-bg' }, bar), ` ${pct(share)}`), h('td', {}, r.inferenceMsP50?.toFixed(1) ?? '—'), h('td', {}, r.drops ?? '—'), h('td', {}, r.gatingSavedRatio === undefined ? '—' : pct(r.gatingSavedRatio)));
        }))));
    } catch (err) {
      body.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
    }
  }
  void load();
  const timer = setInterval(load, 10_000);
  return { el: h('section', { class: 'view tuning-view' }, h('h2', {}, t('tuning')), body), destroy: () => clearInterval(timer) };
}
