import { h, s, fmtTime } from '../dom.ts';
import { CAMERA_STATES, nameOf, t } from '../i18n.ts';
import { api, store, type CameraInfo, type Zone } from '../store.ts';
import { allOption, areaName, select, toast } from './common.ts';

const PAGE = 24;

export function camerasView(cameraId?: string) {
  return cameraId ? zoneEditor(cameraId) : wall();
}

function wall() {
  const cams = store.city?.cameras ?? [];
  let page = 0;
  let status = '';
  const grid = h('div', { class: 'wall', id: 'camera-wall' });
  const pager = h('span', { class: 'pager' });
  const tiles = new Map<string, HTMLElement>();

  function tile(c: CameraInfo): HTMLElement {
    const st = store.cameras.get(c.id);
    const state = st?.state ?? 'unknown';
    return h('a', { class: `tile cam-${state}`, href: `#/cameras/${encodeURIComponent(c.id)}`, 'data-camera-id': c.id },
      // No request before the camera has a picture: a tile says so instead of a broken image.
      st?.frameTs ? h('img', { src: `/api/cameras/${encodeURIComponent(c.id)}/frame.jpg?ts=${st.frameTs}`, alt: t('noFrame'), width: 320, height: 180, loading: 'lazy', decoding: 'async' }) : h('div', { class: 'noimg' }, t('noFrame')),
      h('div', { class: 'tile-meta' }, h('strong', {}, nameOf(c, c.id)), h('span', { class: `badge cam-${state}` }, t(`cam.${state}`)),
        h('span', { class: 'reason' }, st?.reason ?? ''), h('span', {}, areaName(c.cell ?? '')), st?.frameTs ? h('time', {}, fmtTime(st.frameTs)) : null));
  }

  function render() {
    const shown = cams.filter((c) => !status || (store.cameras.get(c.id)?.state ?? 'unknown') === status);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    pager.textContent = `${page + 1} / ${pages}`;
    const nodes = shown.slice(page * PAGE, page * PAGE + PAGE).map((c) => {
      const st = store.cameras.get(c.id);
      const key = `${c.id}:${st?.state}:${st?.reason}:${st?.frameTs}`;
      let el = tiles.get(key);
      if (!el) tiles.set(key, (el = tile(c)));
      return el;
    });
    if (tiles.size > 500) tiles.clear();
    grid.replaceChildren(...nodes);
  }

  const bar = h('div', { class: 'filters' },
    h('label', {}, t('state'), select('filter-camera-state', [allOption(), ...CAMERA_STATES.map((x): [string, string] => [x, t(`cam.${x}`)])], '', (v) => { status = v; page = 0; render(); })),
    h('button', { onclick: () => { page = Math.max(0, page - 1); render(); } }, t('prev')), pager,
    h('button', { onclick: () => { page++; render(); } }, t('next')));
  render();
  return { el: h('section', { class: 'view cameras-view' }, bar, grid), update: (topics: Set<string>) => (topics.has('camera') || topics.has('snapshot')) && render() };
}

function zoneEditor(cameraId: string) {
  const cam = store.city?.cameras.find((c) => c.id === cameraId);
  if (!cam) return { el: h('p', { class: 'error' }, `${t('camera')} ${cameraId}?`) };
  const [w, hgt] = cam.image_size ?? [640, 360];
  let zones: Zone[] = structuredClone(cam.zones);
  let current = -1;
  let draft: [number, number][] = [];
  const svg = s('svg', { class: 'zone-canvas', id: 'zone-canvas', viewBox: `0 0 ${w} ${hgt}` });
  const list = h('ul', { class: 'zone-list' });
  const form = h('div', { class: 'zone-form' });
  const msg = h('p', { class: 'msg', id: 'zone-msg' });
  const canEdit = store.can('cameras.edit');

  function toImage(ev: MouseEvent): [number, number] {
    // Through the SVG's own screen matrix, so letterboxing and zoom never shift a point.
    const m = svg.getScreenCTM();
    if (!m) return [0, 0];
    const pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
    return [Math.round(Math.min(w, Math.max(0, pt.x))), Math.round(Math.min(hgt, Math.max(0, pt.y)))];
  }

  // The camera's latest sampled frame, drawn under the zones; "refresh frame" fetches the newest.
  let frameHref = `/api/cameras/${encodeURIComponent(cameraId)}/frame.jpg?ts=${Date.now()}`;
  const frameMsg = h('span', { class: 'frame-ts', id: 'zone-frame-ts' });
  async function refreshFrame() {
    const res = await fetch(`/api/cameras/${encodeURIComponent(cameraId)}/frame.jpg?ts=${Date.now()}`, { cache: 'no-store' });
    if (!res.ok) { frameMsg.textContent = t('noFrame'); return; }
    const ts = Number(res.headers.get('x-frame-ts'));
    if (frameHref.startsWith('blob:')) URL.revokeObjectURL(frameHref);
    frameHref = URL.createObjectURL(await res.blob());
    frameMsg.textContent = Number.isFinite(ts) && ts > 0 ? `${t('frameAt')} ${fmtTime(ts)}` : '';
    paint();
  }

  function paint() {
    const frame = s('image', { href: frameHref, x: 0, y: 0, width: w, height: hgt, preserveAspectRatio: 'none', id: 'zone-frame' });
    const polys = zones.map((z, i) => s('polygon', { points: z.polygon.map((p) => p.join(',')).join(' '), class: `zone zone-${z.type}${i === current ? ' selected' : ''}`, 'data-zone-id': z.id }));
    const d = draft.length ? [s('polyline', { points: draft.map((p) => p.join(',')).join(' '), class: 'draft' }), ...draft.map(([x, y]) => s('circle', { cx: x, cy: y, r: 4, class: 'vertex' }))] : [];
    svg.replaceChildren(frame, ...polys, ...d);
    list.replaceChildren(...zones.map((z, i) => h('li', { class: i === current ? 'selected' : '' }, h('button', { class: 'link-btn', onclick: () => { current = i; draft = []; paint(); } }, `${z.id} · ${t(`zone.${z.type}`)} · ${z.dwell_s}s`))));
    paintForm();
  }

  function paintForm() {
    const z = zones[current];
    if (!z || !canEdit) { form.replaceChildren(); return; }
    const id = h('input', { id: 'zone-id', value: z.id });
    const type = select('zone-type', (store.city?.zoneTypes ?? ['no_parking', 'road_occupation']).map((x): [string, string] => [x, t(`zone.${x}`)]), z.type, (v) => { z.type = v; paint(); });
    const dwell = h('input', { id: 'zone-dwell', type: 'number', min: 1, value: z.dwell_s });
    const classes = h('input', { id: 'zone-classes', value: (z.classes ?? []).join(', '), placeholder: t('classesHint') });
    const gp = z.ground_point as [number, number] | undefined;
    const ground = h('input', { id: 'zone-ground', value: gp ? gp.join(', ') : '', placeholder: t('groundPointHint') });
    ground.addEventListener('change', () => {
      const v = ground.value.split(',').map((x) => Number(x.trim()));
      if (v.length === 2 && v.every(Number.isFinite)) z.ground_point = v; else delete z.ground_point;
    });
    id.addEventListener('change', () => { z.id = id.value.trim(); paint(); });
    dwell.addEventListener('change', () => { z.dwell_s = Number(dwell.value); });
    classes.addEventListener('change', () => {
      const v = classes.value.split(',').map((x) => x.trim()).filter(Boolean);
      if (v.length) z.classes = v; else delete z.classes;
    });
    form.replaceChildren(
      h('label', {}, t('zoneId'), id), h('label', {}, t('zoneType'), type), h('label', {}, t('dwellS'), dwell), h('label', {}, t('classes'), classes), h('label', {}, t('groundPoint'), ground),
      h('button', { onclick: () => { zones.splice(current, 1); current = -1; paint(); } }, t('deleteZone')));
  }

  svg.addEventListener('click', (ev) => {
    if (!canEdit) return;
    draft.push(toImage(ev));
    paint();
  });

  const buttons = canEdit ? h('div', { class: 'buttons' },
    h('span', { class: 'hint' }, t('drawHint')),
    h('button', { id: 'zone-finish', onclick: () => {
      if (draft.length < 3) return;
      const polygon = [...draft, draft[0]!];
      if (current >= 0) zones[current]!.polygon = polygon;
      else {
        // Where the zone lies on the ground (for the case's place): the camera's own position until set.
        zones.push({ id: `z${zones.length + 1}-${Date.now().toString(36).slice(-4)}`, type: 'no_parking', polygon, dwell_s: 300, ground_point: [cam.lat, cam.lon] });
        current = zones.length - 1;
      }
      draft = [];
      paint();
    } }, t('finishPolygon')),
    h('button', { onclick: () => { draft = []; paint(); } }, t('clearPolygon')),
    h('button', { id: 'zone-new', onclick: () => { current = -1; draft = []; paint(); } }, t('addZone')),
    h('button', { id: 'zone-save', class: 'primary', onclick: async () => {
      msg.textContent = '';
      msg.className = 'msg';
      try {
        const res = await api('PUT', `/api/cameras/${encodeURIComponent(cameraId)}/zones`, { zones });
        zones = res.zones;
        cam.zones = structuredClone(res.zones);
        msg.textContent = t('saved');
        msg.classList.add('ok');
        toast(t('saved'));
        paint();
      } catch (err) {
        msg.textContent = (err as Error).message;
        msg.classList.add('error');
      }
    } }, t('save'))) : null;

  paint();
  void refreshFrame();
  const st = store.cameras.get(cameraId);
  // The on-demand live view: an MJPEG stream the server starts for this viewer only.
  const liveBox = h('div', { class: 'live-box' });
  const liveBtn = h('button', { id: 'live-toggle', onclick: () => {
    if (liveBox.firstChild) { liveBox.replaceChildren(); liveBtn.textContent = t('liveView'); return; }
    const img = h('img', { src: `/api/cameras/${encodeURIComponent(cameraId)}/live.mjpeg?t=${Date.now()}`, alt: t('liveView'), class: 'live-img' });
    img.addEventListener('error', () => { liveBox.replaceChildren(h('p', { class: 'error' }, t('liveUnavailable'))); liveBtn.textContent = t('liveView'); });
    liveBox.replaceChildren(img);
    liveBtn.textContent = t('close');
  } }, t('liveView'));
  return {
    el: h('section', { class: 'view zone-view' },
      h('div', { class: 'zone-main' }, h('h2', {}, `${t('zoneEditor')} · ${nameOf(cam, cam.id)} `, h('span', { class: `badge cam-${st?.state ?? 'unknown'}` }, t(`cam.${st?.state ?? 'unknown'}`)), ' ', st?.reason ?? '', ' ', liveBtn,
        ' ', h('button', { id: 'zone-refresh-frame', onclick: () => void refreshFrame() }, t('refreshFrame')), ' ', frameMsg), liveBox, svg, buttons, msg),
      h('aside', { class: 'detail' }, h('h3', {}, t('zone')), list, form)),
  };
}
