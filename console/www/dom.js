// A tiny DOM builder: every node is made with createElement and text with
// text nodes, never parsed as markup, so nothing the API answers can become markup.

/**
 * @param {string} tag
 * @param {Record<string, any>|null} [attrs]
 * @param {...(Node|string|number|null|undefined|false|(Node|string)[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Says text to screen readers through the page's live region. @param {string} text */
export function announce(text) {
  const live = document.getElementById('announce');
  if (!live) return;
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

/**
 * Opens a modal dialog with body and returns it; Escape closes it unless
 * sticky (the password dialog closes only through "I have saved it").
 * @param {string} title
 * @param {HTMLElement[]} body
 * @param {{sticky?: boolean}} [opts]
 */
export function dialog(title, body, opts = {}) {
  const id = `dlg-${Math.random().toString(36).slice(2)}`;
  const d = /** @type {HTMLDialogElement} */ (h('dialog', { 'aria-labelledby': id }, h('h2', { id }, title), ...body));
  if (opts.sticky) d.addEventListener('cancel', (ev) => ev.preventDefault());
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}
