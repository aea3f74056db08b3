/**
 * A tiny DOM builder. Text only ever goes in through `textContent` and attributes through
 * `setAttribute`, never `innerHTML`, so data from cameras, cases or users cannot inject markup.
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

function apply(el: Element, attrs: Attrs | undefined, children: Child[]): void {
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
      else if (k === 'class') el.setAttribute('class', String(v));
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, children);
  return el;
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** Runs `fn` once on the next animation frame however often it is asked. */
export function frameThrottle(fn: () => void): () => void {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

export function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtCountdown(ms: number): string {
  const neg = ms < 0;
  let t = Math.abs(Math.round(ms / 1000));
  const d = Math.floor(t / 86400); t -= d * 86400;
  const hh = Math.floor(t / 3600); t -= hh * 3600;
  const mm = Math.floor(t / 60); const ss = t - mm * 60;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${neg ? '-' : ''}${d ? `${d}d ` : ''}${p(hh)}:${p(mm)}:${p(ss)}`;
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Makes `parent`'s children exactly `nodes`, moving only what is out of place (keyed nodes are reused). */
export function reconcile(parent: Element, nodes: readonly Element[]): void {
  for (let i = 0; i < nodes.length; i++) {
    const want = nodes[i]!;
    if (parent.children[i] !== want) parent.insertBefore(want, parent.children[i] ?? null);
  }
  while (parent.children.length > nodes.length) parent.lastElementChild!.remove();
}
