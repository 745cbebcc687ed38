/**
 * Building the page from data without ever parsing it as markup: every text goes in through
 * `Node.append(string)` or `textContent`, which escape by construction (job names, failure messages,
 * split names come from users). Nothing here uses innerHTML.
 */

/** An element with attributes (`class`, `title`, `data-*`, …) and children (nodes or texts; null/false skipped). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replaces a table's body rows; `rows` are arrays of cells (node or text), or a `tr` made by the caller. */
export function fillTable(table, rows, emptyText = 'none') {
  const body = table.tBodies[0];
  if (rows.length === 0) {
    body.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: table.tHead.rows[0].cells.length }, emptyText)));
    return;
  }
  body.replaceChildren(...rows.map((row) => (row instanceof Node ? row : el('tr', {}, ...row.map((cell) => el('td', {}, cell))))));
}

/** A `<dl>`'s pairs: [[term, value, attrs?], …], each pair in its own `<div>` (laid out as one figure). */
export function fillFigures(dl, pairs) {
  dl.replaceChildren(...pairs.map(([term, value, attrs = {}]) => el('div', {}, el('dt', {}, term), el('dd', attrs, value))));
}

/** A state badge: its class names the state (`state-running`, …), its text is the state. */
export function stateBadge(state) {
  return el('span', { class: `state state-${String(state).toLowerCase().replace(/[^a-z]/g, '')}` }, state);
}

export function setText(node, text, kind) {
  node.textContent = text ?? '';
  if (kind !== undefined) node.dataset.kind = kind;
}

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A figure for reading: 1 decimal at most, thousands grouped; `–` for null/undefined. */
export function formatNumber(value) {
  return value === null || value === undefined || Number.isNaN(value) ? '–' : number.format(value);
}

export function formatTime(ms) {
  return new Date(ms).toLocaleTimeString();
}

export function formatDateTime(ms) {
  return new Date(ms).toLocaleString();
}

/** How long ago `ms` was, roughly: `0.4 s ago`, `3 min ago`. */
export function formatAge(ms, now = Date.now()) {
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${s.toFixed(1)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}
