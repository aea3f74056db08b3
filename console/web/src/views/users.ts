import { h } from '../dom.ts';
import { t } from '../i18n.ts';
import { api, store } from '../store.ts';
import { departmentName, select, toast } from './common.ts';

interface User { username: string; role: string; department?: string }

export function usersView() {
  const table = h('tbody', {});
  const name = h('input', { id: 'user-name', pattern: '[A-Za-z0-9_.-]{1,64}', required: true });
  let role = 'operator';
  let department = store.city?.departments[0]?.id ?? '';
  const pass = h('input', { id: 'user-pass', type: 'password', minlength: 8, autocomplete: 'new-password', required: true });
  const paint = (users: User[]) => table.replaceChildren(...users.map((u) => h('tr', { 'data-user': u.username },
    h('td', {}, u.username), h('td', {}, t(`role.${u.role}`)), h('td', {}, u.department ? departmentName(u.department) : ''),
    h('td', {}, u.username === store.session?.user.username ? '' : h('button', { onclick: async () => {
      try { paint((await api<{ users: User[] }>('DELETE', `/api/users/${encodeURIComponent(u.username)}`)).users); } catch (err) { toast((err as Error).message, 'error'); }
    } }, t('deleteUser'))))));
  const form = h('form', { class: 'filters', id: 'user-form' },
    h('label', {}, t('username'), name),
    h('label', {}, t('role'), select('user-role', ['operator', 'supervisor', 'command', 'clerk', 'admin'].map((r): [string, string] => [r, t(`role.${r}`)]), role, (v) => { role = v; })),
    h('label', {}, t('department'), select('user-dept', (store.city?.departments ?? []).map((d): [string, string] => [d.id, departmentName(d.id)]), department, (v) => { department = v; })),
    h('label', {}, t('password'), pass),
    h('button', { type: 'submit', class: 'primary' }, t('save')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const body = role === 'clerk' ? { role, department, password: pass.value } : { role, password: pass.value };
      paint((await api<{ users: User[] }>('PUT', `/api/users/${encodeURIComponent(name.value)}`, body)).users);
      pass.value = '';
      toast(t('saved'));
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  });
  void api<{ users: User[] }>('GET', '/api/users').then((r) => paint(r.users));
  return { el: h('section', { class: 'view users-view' }, h('h2', {}, t('users')), form, h('table', {}, h('thead', {}, h('tr', {}, ...[t('username'), t('role'), t('department'), ''].map((x) => h('th', {}, x)))), table)) };
}
