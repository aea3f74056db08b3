import { CASE_STATES, CONSOLE_ACTIONS, caseLight, refusal, type CaseState, type ConsoleCase } from '../../../types.ts';
import { h, fmtCountdown, fmtTime, reconcile } from '../dom.ts';
import { t } from '../i18n.ts';
import { api, store } from '../store.ts';
import { allOption, areaName, categoryName, departmentName, select, toast } from './common.ts';

const COLUMNS: string[][] = [['reported', 'filed', 'returned', 'reopened', 'transferred'], ['dispatched'], ['signed'], ['resolved'], ['closed', 'invalid']];
const PER_COLUMN = 50;
/** The actions the router allows in a state (the server checks again); a transfer needs a department picker, so it is API-only. */
const actionsIn = (state: CaseState): string[] => CONSOLE_ACTIONS.filter((a) => a !== 'transfer' && !refusal(state, a));

export function casesView(openId?: string) {
  const f = { state: '', department: '', category: '' };
  const board = h('div', { class: 'board', id: 'case-board' });
  const detail = h('aside', { class: 'detail case-detail', id: 'case-detail' });
  let selected = openId ?? '';
  const cards = new Map<string, { el: HTMLElement; updatedAt: number }>();
  const filters = h('div', { class: 'filters' },
    h('label', {}, t('state'), select('filter-state', [allOption(), ...CASE_STATES.map((s): [string, string] => [s, t(`state.${s}`)])], '', (v) => { f.state = v; render(); })),
    h('label', {}, t('department'), select('filter-department', [allOption(), ...(store.city?.departments ?? []).map((d): [string, string] => [d.id, departmentName(d.id)])], '', (v) => { f.department = v; render(); })),
    h('label', {}, t('category'), select('filter-category', [allOption(), ...(store.city?.categories ?? []).map((c): [string, string] => [c.code, categoryName(c.code)])], '', (v) => { f.category = v; render(); })));

  function card(c: ConsoleCase): HTMLElement {
    const deadline = c.state === 'reported' || c.state === 'dispatched' || c.state === 'transferred' ? c.signDeadline : c.state === 'signed' ? c.resolveDeadline : undefined;
    return h('article', { class: `case-card light-${caseLight(c.state)}`, 'data-case-id': c.id, onclick: () => { selected = c.id; history.replaceState(null, '', `#/cases/${encodeURIComponent(c.id)}`); renderDetail(); } },
      h('strong', {}, c.id), h('span', {}, categoryName(c.category)), h('span', {}, areaName(c.cell)),
      h('span', { class: 'depts' }, c.departments.map(departmentName).join(', ')),
      deadline ? h('span', { class: 'countdown', 'data-deadline': deadline }, fmtCountdown(deadline - Date.now())) : null);
  }

  // Columns stay in the page; a render only moves the cards whose order or content changed.
  const columns = COLUMNS.map((states) => {
    const count = h('span', { class: 'count' });
    const list = h('div', { class: 'cards' });
    const more = h('p', { class: 'more' });
    const el = h('div', { class: 'column', 'data-states': states.join(' ') }, h('h3', {}, states.map((x) => t(`state.${x}`)).join(' / '), count), list, more);
    return { states, el, count, list, more, shown: [] as HTMLElement[] };
  });
  board.replaceChildren(...columns.map((c) => c.el));

  function render() {
    const shown = [...store.cases.values()].filter((c) => (!f.state || c.state === f.state) && (!f.department || c.departments.includes(f.department)) && (!f.category || c.category === f.category));
    const live = new Set<string>();
    for (const col of columns) {
      const inCol = shown.filter((c) => col.states.includes(c.state)).sort((a, b) => b.updatedAt - a.updatedAt);
      const els = inCol.slice(0, PER_COLUMN).map((c) => {
        live.add(c.id);
        let e = cards.get(c.id);
        if (!e || e.updatedAt !== c.updatedAt) cards.set(c.id, (e = { el: card(c), updatedAt: c.updatedAt }));
        return e.el;
      });
      col.count.textContent = String(inCol.length);
      col.more.textContent = inCol.length > PER_COLUMN ? `+${inCol.length - PER_COLUMN} ${t('more')}` : '';
      if (els.length !== col.shown.length || els.some((el, i) => el !== col.shown[i])) {
        reconcile(col.list, els);
        col.shown = els;
      }
    }
    for (const id of cards.keys()) if (!live.has(id)) cards.delete(id);
    renderDetail();
  }

  let detailShown: ConsoleCase | undefined | null = null;
  function renderDetail() {
    const c = store.cases.get(selected);
    if (c === detailShown) return;
    detailShown = c;
    if (!c) { detail.replaceChildren(h('p', { class: 'hint' }, t('detail'))); return; }
    const reason = h('input', { id: 'action-reason', placeholder: t('reason') });
    const actions = actionsIn(c.state).filter((a) => store.can(`case.${a}`));
    const deadlines = h('dl', {},
      h('dt', {}, t('signDeadline')), h('dd', {}, c.signDeadline ? countdown(c.signDeadline, !c.timeline.some((s) => s.state === 'signed')) : '—'),
      h('dt', {}, t('resolveDeadline')), h('dd', {}, c.resolveDeadline ? countdown(c.resolveDeadline, !c.timeline.some((s) => s.state === 'resolved')) : '—'));
    detail.replaceChildren(
      h('h3', {}, `${t('caseId')} ${c.id} `, h('span', { class: `pill light-${caseLight(c.state)}`, id: 'case-state' }, t(`state.${c.state}`))),
      h('dl', {}, h('dt', {}, t('category')), h('dd', {}, categoryName(c.category)), h('dt', {}, t('cell')), h('dd', {}, c.path.map(areaName).join(' › ')),
        h('dt', {}, t('department')), h('dd', {}, c.departments.map(departmentName).join(', ')), h('dt', {}, t('reporter')), h('dd', {}, c.reporter ?? ''),
        ...(c.reworks ? [h('dt', {}, t('action.rework')), h('dd', { id: 'case-reworks' }, String(c.reworks))] : [])),
      deadlines,
      h('h4', {}, t('evidence')),
      h('div', { class: 'evidence' }, ...c.alerts.slice(0, 6).map((id) => h('img', { src: `/api/alerts/${encodeURIComponent(id)}/evidence.jpg`, alt: id, width: 160, height: 90, loading: 'lazy' }))),
      h('h4', {}, t('timeline')),
      h('ol', { class: 'timeline' }, ...c.timeline.map((s) => h('li', {}, h('time', {}, fmtTime(s.ts)), ' ', h('strong', {}, t(`state.${s.state}`)), s.actor ? ` · ${s.actor}` : '', s.note ? ` · ${s.note}` : ''))),
      ...(actions.length ? [h('div', { class: 'actions' }, h('h4', {}, t('actions')), reason, ...actions.map((a) => h('button', { class: `act act-${a}`, 'data-action': a, onclick: () => act(c, a, reason.value) }, t(`action.${a}`))))] : []));
  }

  function countdown(deadline: number, running: boolean): HTMLElement {
    return running ? h('span', { class: 'countdown', 'data-deadline': deadline }, fmtCountdown(deadline - Date.now())) : h('span', {}, fmtTime(deadline));
  }

  async function act(c: ConsoleCase, action: string, reason: string) {
    try {
      const res = await api('POST', `/api/cases/${encodeURIComponent(c.id)}/actions/${action}`, reason ? { reason } : {});
      store.cases.set(res.case.id, res.case);
      store.touch('case');
      toast(`${t(`action.${action}`)} ✓`);
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  // Deadlines count down in place: text only, once a second, for the cards on screen.
  const tick = setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll<HTMLElement>('.countdown[data-deadline]')) {
      const left = Number(el.dataset.deadline) - now;
      el.textContent = left < 0 ? `${fmtCountdown(left)} ${t('overdue')}` : fmtCountdown(left);
      el.classList.toggle('overdue', left < 0);
    }
  }, 1000);

  render();
  return {
    el: h('section', { class: 'view cases-view' }, h('div', { class: 'board-wrap' }, filters, board), detail),
    update: (topics: Set<string>) => (topics.has('case') || topics.has('snapshot')) && render(),
    destroy: () => clearInterval(tick),
  };
}
