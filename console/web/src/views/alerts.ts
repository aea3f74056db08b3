import { h, fmtTime, pct, reconcile } from '../dom.ts';
import { DISMISS_REASONS, reasonLabel, t } from '../i18n.ts';
import { api, store, type AlertRecord } from '../store.ts';
import { areaName, categoryName, toast } from './common.ts';

const SHOWN = 40;

export function alertsView() {
  let tab: 'new' | 'decided' = 'new';
  const list = h('div', { class: 'alert-list', id: 'alert-list' });
  const count = h('span', { class: 'count', id: 'alert-count' });
  const tabs = h('div', { class: 'subtabs' },
    h('button', { id: 'alerts-new', class: 'active', onclick: (e) => switchTab('new', e) }, t('newAlerts'), ' ', count),
    h('button', { id: 'alerts-decided', onclick: (e) => switchTab('decided', e) }, t('decided')));
  const cards = new Map<string, HTMLElement>();

  function switchTab(next: 'new' | 'decided', e: Event) {
    tab = next;
    for (const b of tabs.querySelectorAll('button')) b.classList.toggle('active', b === e.currentTarget);
    render();
  }

  function card(rec: AlertRecord): HTMLElement {
    const a = rec.alert;
    const reason = h('select', { class: 'dismiss-reason' }, ...DISMISS_REASONS.map((r) => h('option', { value: r }, t(`reason.${r}`))));
    const buttons = rec.status === 'new'
      ? h('div', { class: 'buttons' },
          h('button', { class: 'primary confirm', onclick: () => decide(rec, 'confirm') }, t('confirm')),
          reason,
          h('button', { class: 'dismiss', onclick: () => decide(rec, 'dismiss', reason.value) }, t('dismiss')))
      : h('div', { class: `decision decision-${rec.status}` }, rec.status === 'confirmed' ? `${t('confirmed')} → ${rec.caseId ?? ''}` : `${t('dismissed')}: ${reasonLabel(rec.reason ?? '')}`, rec.decidedBy ? ` (${rec.decidedBy})` : '');
    return h('article', { class: `alert-card status-${rec.status}`, 'data-alert-id': a.id },
      rec.hasEvidence ? h('img', { src: `/api/alerts/${encodeURIComponent(a.id)}/evidence.jpg`, alt: t('evidence'), loading: 'lazy', decoding: 'async', width: 320, height: 180 }) : h('div', { class: 'noimg' }, t('noFrame')),
      h('div', { class: 'meta' },
        h('strong', {}, categoryName(a.category)),
        h('span', {}, `${t('camera')} ${a.cameraId} · ${t('zone')} ${a.zoneId}`),
        h('span', {}, `${t('cell')} ${areaName(a.cell)}`),
        h('span', {}, `${a.className} · ${t('score')} ${pct(a.score)} · ${t('dwell')} ${Math.round(a.dwellS)}s`),
        h('time', {}, fmtTime(a.ts))),
      buttons);
  }

  async function decide(rec: AlertRecord, what: 'confirm' | 'dismiss', reason?: string) {
    try {
      const res = await api('POST', `/api/alerts/${encodeURIComponent(rec.alert.id)}/${what}`, what === 'dismiss' ? { reason } : {});
      store.alerts.set(rec.alert.id, res.alert);
      if (res.case) store.cases.set(res.case.id, res.case);
      store.touch('alert');
      toast(what === 'confirm' ? `${t('confirmed')} → ${res.case.id}` : t('dismissed'));
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  function render() {
    const all = [...store.alerts.values()];
    const fresh = all.filter((r) => r.status === 'new');
    count.textContent = String(fresh.length);
    const shown = (tab === 'new' ? fresh : all.filter((r) => r.status !== 'new')).sort((a, b) => b.alert.ts - a.alert.ts).slice(0, SHOWN);
    const keep = new Set<string>();
    const nodes: HTMLElement[] = [];
    for (const rec of shown) {
      const key = `${rec.alert.id}:${rec.status}`;
      keep.add(key);
      let el = cards.get(key);
      if (!el) cards.set(key, (el = card(rec)));
      nodes.push(el);
    }
    for (const k of cards.keys()) if (!keep.has(k)) cards.delete(k);
    if (nodes.length === 0) list.replaceChildren(h('p', { class: 'empty' }, t('noAlerts')));
    else reconcile(list, nodes);
  }

  render();
  return { el: h('section', { class: 'view alerts-view' }, tabs, list), update: (topics: Set<string>) => (topics.has('alert') || topics.has('snapshot')) && render() };
}
