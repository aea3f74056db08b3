import { h } from '../dom.ts';
import { getLang, setLang, t } from '../i18n.ts';
import { api, ApiError, type SessionInfo } from '../store.ts';

export function loginView(onIn: (s: SessionInfo) => void) {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { class: 'error', id: 'login-error' });
  const form = h('form', { class: 'login-box', id: 'login-form' },
    h('h1', {}, t('appName')),
    h('label', {}, t('username'), user),
    h('label', {}, t('password'), pass),
    msg,
    h('button', { type: 'submit', id: 'login-submit' }, t('login')),
    h('button', { type: 'button', class: 'link-btn', onclick: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); location.reload(); } }, t('lang')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    try {
      onIn(await api<SessionInfo>('POST', '/api/login', { username: user.value, password: pass.value }));
    } catch (err) {
      msg.textContent = err instanceof ApiError && err.status === 401 ? t('loginFailed') : err instanceof ApiError && err.status === 429 ? t('loginThrottled') : String((err as Error).message);
    }
  });
  return { el: h('div', { class: 'login' }, form) };
}

/** Shown instead of the console while the session holds the one-time admin password. */
export function passwordChangeView(onDone: (s: SessionInfo) => void) {
  const current = h('input', { id: 'pw-current', name: 'current', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { id: 'pw-new', name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const again = h('input', { id: 'pw-again', name: 'again', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const msg = h('p', { class: 'error', id: 'pw-error' });
  const form = h('form', { class: 'login-box', id: 'pw-form' },
    h('h1', {}, t('changePassword')),
    h('p', { id: 'pw-why' }, t('mustChangePassword')),
    h('label', {}, t('currentPassword'), current),
    h('label', {}, t('newPassword'), next),
    h('label', {}, t('repeatPassword'), again),
    msg,
    h('button', { type: 'submit', id: 'pw-submit' }, t('changePassword')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    msg.textContent = '';
    if (next.value !== again.value) return void (msg.textContent = t('passwordsDiffer'));
    try {
      onDone(await api<SessionInfo>('POST', '/api/password', { current: current.value, password: next.value }));
    } catch (err) {
      msg.textContent = String((err as Error).message);
    }
  });
  return { el: h('div', { class: 'login' }, form) };
}
