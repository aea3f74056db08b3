import { h, clear } from './dom.ts';
import { getLang, setLang, t } from './i18n.ts';
import { api, ApiError, LiveLink, store, type SessionInfo, type Topic } from './store.ts';
import { loginView, passwordChangeView } from './views/login.ts';
import { alertsView } from './views/alerts.ts';
import { mapView } from './views/map.ts';
import { camerasView } from './views/cameras.ts';
import { casesView } from './views/cases.ts';
import { statsView } from './views/stats.ts';
import { tuningView } from './views/tuning.ts';
import { departmentName } from './views/common.ts';
import { usersView } from './views/users.ts';

export interface View { el: HTMLElement; update?(topics: Set<Topic>): void; destroy?(): void }

const ROUTES: { path: string; key: string; perm: string; make: (arg?: string) => View }[] = [
  { path: 'alerts', key: 'alerts', perm: 'alerts', make: alertsView },
  { path: 'map', key: 'map', perm: 'map', make: mapView },
  { path: 'cameras', key: 'cameras', perm: 'cameras', make: camerasView },
  { path: 'cases', key: 'cases', perm: 'cases', make: casesView },
  { path: 'stats', key: 'stats', perm: 'stats', make: statsView },
  { path: 'tuning', key: 'tuning', perm: 'tuning', make: tuningView },
  { path: 'users', key: 'users', perm: 'users', make: usersView },
];

const root = document.getElementById('app')!;
const link = new LiveLink();
let current: View | null = null;
(window as unknown as { gridwatch: unknown }).gridwatch = { store, link };

function shell(): { main: HTMLElement } {
  const s = store.session!;
  const status = h('span', { class: 'link', id: 'link-status' });
  const paintLink = () => {
    status.textContent = t(store.link);
    status.className = `link link-${store.link}`;
  };
  paintLink();
  store.subscribe((topics) => topics.has('link') && paintLink());
  const nav = h('nav', { class: 'tabs' }, ...ROUTES.filter((r) => store.can(r.perm)).map((r) => h('a', { href: `#/${r.path}`, 'data-route': r.path }, t(r.key))));
  const main = h('main', { id: 'view' });
  root.replaceChildren(
    h('header', {},
      h('span', { class: 'brand' }, t('appName')),
      nav,
      h('span', { class: 'spacer' }),
      status,
      h('span', { class: 'user', id: 'user-badge' }, `${s.user.username} · ${t(`role.${s.user.role}`)}${s.user.department ? ` · ${departmentName(s.user.department)}` : ''}`),
      h('button', { id: 'lang-switch', onclick: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); boot(); } }, t('lang')),
      h('button', { id: 'logout', onclick: async () => { await api('POST', '/api/logout').catch(() => {}); link.stop(); store.session = null; location.hash = ''; showLogin(); } }, t('logout')),
    ),
    main,
  );
  return { main };
}

function route(main: HTMLElement): void {
  const [path = '', arg] = location.hash.replace(/^#\/?/, '').split('/');
  const allowed = ROUTES.filter((r) => store.can(r.perm));
  const r = allowed.find((x) => x.path === path) ?? allowed[0];
  if (!r) return;
  current?.destroy?.();
  clear(main);
  current = r.make(arg ? decodeURIComponent(arg) : undefined);
  main.append(current.el);
  for (const a of document.querySelectorAll('nav.tabs a')) a.classList.toggle('active', a.getAttribute('data-route') === r.path);
}

async function loadCity(): Promise<void> {
  if (store.can('map') && !store.city) store.city = await api('GET', '/api/city');
}

async function boot(): Promise<void> {
  document.documentElement.lang = getLang();
  document.title = `gridwatch · ${t('appName')}`;
  await loadCity();
  const { main } = shell();
  route(main);
  window.onhashchange = () => route(main);
}

store.subscribe((topics) => current?.update?.(topics));
link.onLoggedOut = () => { store.session = null; showLogin(); };

function showLogin(): void {
  current?.destroy?.();
  current = null;
  root.replaceChildren(loginView(async (session: SessionInfo) => {
    store.session = session;
    store.city = null;
    store.seq = 0;
    await enter();
  }).el);
}

/** Into the console; a session with the one-time password must set a new one first. */
async function enter(): Promise<void> {
  if (store.session?.mustChangePassword) {
    root.replaceChildren(passwordChangeView(async (session) => {
      store.session = session;
      await enter();
    }).el);
    return;
  }
  link.start();
  await boot();
}

async function start(): Promise<void> {
  setLang(getLang());
  try {
    store.session = await api<SessionInfo>('GET', '/api/session');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showLogin();
    throw err;
  }
  await enter();
}

void start();
