import { caseLight, OPEN_STATES } from '../../../types.ts';
import { h, s, fmtTime } from '../dom.ts';
import { nameOf, t } from '../i18n.ts';
import { store } from '../store.ts';
import { areaName, categoryName, departmentName } from './common.ts';

/** A flat lon/lat projection (equirectangular, scaled by cos(lat) at the centre): metres-ish SVG units. */
export function projector(rings: [number, number][][]) {
  let minLon = Infinity, maxLon = -Infinity, minLat = Infinity, maxLat = -Infinity;
  for (const r of rings) for (const [lon, lat] of r) {
    minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
    minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
  }
  const k = 111_320;
  const kx = k * Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  return {
    x: (lon: number) => (lon - minLon) * kx,
    y: (lat: number) => (maxLat - lat) * k,
    width: (maxLon - minLon) * kx,
    height: (maxLat - minLat) * k,
  };
}

const SHADES = ['#eef3f7', '#fde9c8', '#fbc98a', '#f59e4c', '#e0662b'];

export function mapView() {
  const city = store.city!;
  const cells = city.areas.filter((a) => a.level === 'cell');
  const p = projector(city.areas.filter((a) => a.level === 'district' || a.level === 'cell').map((a) => a.ring));
  const pad = 60;
  const full = { x: -pad, y: -pad, w: p.width + 2 * pad, h: p.height + 2 * pad };
  let vb = { ...full };
  // Two stacked SVGs with one viewBox: the base (cells, boundaries, cameras) changes rarely; the
  // overlay (tracks, terminals, case lights) changes many times a second and is its own layer,
  // so moving terminals never repaint the 1,000 cameras and the cells beneath them.
  const svg = s('svg', { class: 'map', id: 'map-svg', viewBox: `${vb.x} ${vb.y} ${vb.w} ${vb.h}`, preserveAspectRatio: 'xMidYMid meet' });
  const overlay = s('svg', { class: 'map map-overlay', id: 'map-overlay', viewBox: `${vb.x} ${vb.y} ${vb.w} ${vb.h}`, preserveAspectRatio: 'xMidYMid meet' });
  const gCells = s('g', { class: 'cells' }), gLines = s('g', { class: 'boundaries' }), gLabels = s('g', { class: 'labels' });
  const gCams = s('g', { class: 'cameras' }), gTracks = s('g', { class: 'tracks' }), gTerms = s('g', { class: 'terminals' }), gCases = s('g', { class: 'cases' });
  svg.append(gCells, gLines, gLabels, gCams);
  overlay.append(gTracks, gTerms, gCases);
  const pts = (ring: [number, number][]) => ring.map(([lon, lat]) => `${p.x(lon).toFixed(1)},${p.y(lat).toFixed(1)}`).join(' ');

  const cellEls = new Map<string, SVGPolygonElement>();
  for (const c of cells) {
    const el = s('polygon', { points: pts(c.ring), class: 'cell', 'data-kind': 'cell', 'data-id': c.id });
    cellEls.set(c.id, el);
    gCells.append(el);
  }
  for (const a of city.areas.filter((x) => x.level === 'street' || x.level === 'district')) {
    gLines.append(s('polygon', { points: pts(a.ring), class: `boundary ${a.level}` }));
    if (a.level === 'street') {
      const cx = a.ring.reduce((acc, [lon]) => acc + p.x(lon), 0) / a.ring.length, cy = a.ring.reduce((acc, [, lat]) => acc + p.y(lat), 0) / a.ring.length;
      gLabels.append(s('text', { x: cx.toFixed(0), y: cy.toFixed(0), class: 'street-label' }, nameOf(a)));
    }
  }
  const camEls = new Map<string, SVGRectElement>();
  for (const c of city.cameras) {
    const el = s('rect', { x: (p.x(c.lon) - 16).toFixed(1), y: (p.y(c.lat) - 16).toFixed(1), width: 32, height: 32, class: 'camera cam-unknown', 'data-kind': 'camera', 'data-id': c.id });
    camEls.set(c.id, el);
    gCams.append(el);
  }
  const termEls = new Map<string, { dot: SVGCircleElement; track: SVGPolylineElement }>();
  const caseEls = new Map<string, SVGCircleElement>();

  const detail = h('aside', { class: 'detail', id: 'map-detail' }, h('p', { class: 'hint' }, t('detail')));
  const legend = h('div', { class: 'legend' },
    h('span', { class: 'lg lg-blue' }, t('state.reported')), h('span', { class: 'lg lg-yellow' }, t('state.signed')), h('span', { class: 'lg lg-green' }, t('state.resolved')),
    h('span', { class: 'lg lg-cam' }, t('cameras')), h('span', { class: 'lg lg-term' }, t('terminals')));

  const painted = new Map<string, number>();
  const cellCount = new Map<string, number>();
  function paintCases() {
    const perCell = new Map<string, number>();
    const seen = new Set<string>();
    for (const c of store.cases.values()) {
      if (!OPEN_STATES.has(c.state)) continue;
      seen.add(c.id);
      perCell.set(c.cell, (perCell.get(c.cell) ?? 0) + 1);
      let el = caseEls.get(c.id);
      if (!el) {
        el = s('circle', { r: 34, 'data-kind': 'case', 'data-id': c.id, 'data-case-id': c.id });
        caseEls.set(c.id, el);
        gCases.append(el);
      }
      if (painted.get(c.id) === c.updatedAt) continue;
      painted.set(c.id, c.updatedAt);
      el.setAttribute('cx', p.x(c.lon).toFixed(1));
      el.setAttribute('cy', p.y(c.lat).toFixed(1));
      const light = caseLight(c.state);
      el.setAttribute('class', `case-light light-${light}`);
      el.setAttribute('data-light', light);
    }
    for (const [id, el] of caseEls) if (!seen.has(id)) { el.remove(); caseEls.delete(id); painted.delete(id); }
    for (const [id, el] of cellEls) {
      const n = perCell.get(id) ?? 0;
      if (cellCount.get(id) === n) continue;
      cellCount.set(id, n);
      el.setAttribute('fill', SHADES[Math.min(n, SHADES.length - 1)]!);
      el.setAttribute('data-open', String(n));
    }
  }

  const termTs = new Map<string, number>();
  function paintTerminals() {
    for (const tr of store.terminals.values()) {
      if (termTs.get(tr.terminalId) === tr.last.ts && termEls.has(tr.terminalId)) continue;
      termTs.set(tr.terminalId, tr.last.ts);
      let e = termEls.get(tr.terminalId);
      if (!e) {
        e = { track: s('polyline', { class: 'track' }), dot: s('circle', { r: 16, class: 'terminal', 'data-kind': 'terminal', 'data-id': tr.terminalId }) };
        termEls.set(tr.terminalId, e);
        gTracks.append(e.track);
        gTerms.append(e.dot);
      }
      e.dot.setAttribute('cx', p.x(tr.last.lon).toFixed(1));
      e.dot.setAttribute('cy', p.y(tr.last.lat).toFixed(1));
      e.track.setAttribute('points', tr.track.map(([lat, lon]) => `${p.x(lon).toFixed(1)},${p.y(lat).toFixed(1)}`).join(' '));
    }
  }

  const camState = new Map<string, string>();
  function paintCameras() {
    for (const [id, el] of camEls) {
      const st = store.cameras.get(id)?.state ?? 'unknown';
      if (camState.get(id) === st) continue;
      camState.set(id, st);
      el.setAttribute('class', `camera cam-${st}`);
    }
  }

  function show(kind: string, id: string) {
    const rows: [string, string][] = [];
    let title = id;
    let extra: Node | null = null;
    if (kind === 'case') {
      const c = store.cases.get(id);
      if (!c) return;
      title = `${t('caseId')} ${c.id}`;
      rows.push([t('state'), t(`state.${c.state}`)], [t('category'), categoryName(c.category)], [t('cell'), areaName(c.cell)], [t('department'), c.departments.map(departmentName).join(', ')], [t('time'), fmtTime(c.createdAt)]);
      extra = h('a', { href: `#/cases/${encodeURIComponent(c.id)}`, class: 'button' }, t('detail'));
    } else if (kind === 'camera') {
      const cam = city.cameras.find((c) => c.id === id);
      const st = store.cameras.get(id);
      title = `${t('camera')} ${nameOf(cam as never, id)}`;
      rows.push([t('state'), t(`cam.${st?.state ?? 'unknown'}`)], [t('reason'), st?.reason ?? ''], [t('cell'), areaName(cam?.cell ?? '')]);
      extra = h('div', {}, h('img', { src: `/api/cameras/${encodeURIComponent(id)}/frame.jpg`, alt: '', class: 'detail-frame' }), h('a', { href: `#/cameras/${encodeURIComponent(id)}`, class: 'button' }, t('zoneEditor')));
    } else if (kind === 'terminal') {
      const info = city.terminals.find((x) => x.id === id);
      const tr = store.terminals.get(id);
      title = `${t('terminals')} ${id}`;
      rows.push([t('worker'), info?.worker ?? ''], [t('cell'), areaName(info?.cell ?? '')], [t('time'), tr ? fmtTime(tr.last.ts) : '']);
    } else if (kind === 'cell') {
      const open = [...store.cases.values()].filter((c) => c.cell === id && OPEN_STATES.has(c.state));
      title = `${t('cell')} ${areaName(id)}`;
      rows.push([t('openCases'), String(open.length)]);
      extra = h('ul', {}, ...open.slice(0, 20).map((c) => h('li', {}, h('a', { href: `#/cases/${encodeURIComponent(c.id)}` }, `${c.id} · ${categoryName(c.category)} · ${t(`state.${c.state}`)}`))));
    }
    detail.replaceChildren(h('h3', {}, title), h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])), ...(extra ? [extra] : []));
    detail.setAttribute('data-kind', kind);
    detail.setAttribute('data-id', id);
  }

  const wrap = h('div', { class: 'map-wrap' }, svg, overlay);
  wrap.addEventListener('click', (ev) => {
    const target = (ev.target as Element).closest('[data-kind]');
    if (target) show(target.getAttribute('data-kind')!, target.getAttribute('data-id')!);
  });
  // Wheel zooms around the pointer, drag pans; all by viewBox, so nothing is redrawn.
  const setVb = () => {
    svg.setAttribute('viewBox', `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
    overlay.setAttribute('viewBox', `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
  };
  wrap.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    const f = ev.deltaY > 0 ? 1.2 : 1 / 1.2;
    const mx = vb.x + ((ev.clientX - r.left) / r.width) * vb.w, my = vb.y + ((ev.clientY - r.top) / r.height) * vb.h;
    vb = { x: mx - (mx - vb.x) * f, y: my - (my - vb.y) * f, w: vb.w * f, h: vb.h * f };
    setVb();
  }, { passive: false });
  let drag: { x: number; y: number } | null = null;
  wrap.addEventListener('pointerdown', (ev) => { drag = { x: ev.clientX, y: ev.clientY }; });
  wrap.addEventListener('pointermove', (ev) => {
    if (!drag || ev.buttons !== 1) return;
    const r = svg.getBoundingClientRect();
    vb.x -= ((ev.clientX - drag.x) / r.width) * vb.w;
    vb.y -= ((ev.clientY - drag.y) / r.height) * vb.h;
    drag = { x: ev.clientX, y: ev.clientY };
    setVb();
  });
  wrap.addEventListener('pointerup', () => { drag = null; });

  paintCases();
  paintTerminals();
  paintCameras();
  wrap.append(legend);
  const el = h('section', { class: 'view map-view' }, wrap, detail);
  return {
    el,
    update(topics: Set<string>) {
      const all = topics.has('snapshot');
      if (all || topics.has('case')) paintCases();
      if (all || topics.has('terminal')) paintTerminals();
      if (all || topics.has('camera')) paintCameras();
    },
  };
}
