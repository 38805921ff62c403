// Small DOM helpers. Text from the server always goes through textContent, never innerHTML.

export const $ = (id) => document.getElementById(id);

/** Builds an element: `class`, `text`, aria-*, role, scope, data-* and title become attributes; the rest properties. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('aria-') || k.startsWith('data-') || k === 'role' || k === 'scope' || k === 'title' || k === 'for')
      node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c);
  return node;
}

export function setStatus(text) {
  $('status').textContent = text;
}
