// Spend per client key, tenant and provider (admin keys only), and the cost column of the jobs
// table. Figures come from GET /v1/admin/spend and GET /v1/admin/spend/jobs; nothing here is
// computed in the browser but the formatting.
import { api, ApiError } from './api.js';
import { $, el } from './dom.js';
import { page } from './state.js';

/** USD for reading: 3 significant digits under a dollar, cents above (the API keeps the unrounded figure). */
export function usd(n) {
  if (n === 0) return '$0';
  return n < 1 ? `$${n.toPrecision(3)}` : `$${n.toFixed(2)}`;
}

export async function loadSpend() {
  await Promise.all([loadPanel(), loadJobCosts()]);
}

async function loadPanel() {
  if (page.spendForbidden) return;
  let res;
  try {
    res = await api('/v1/admin/spend', { quiet403: true });
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      page.spendForbidden = true;
      $('spend-note').textContent = 'Spend needs a key with the admin scope.';
      $('spend-table').hidden = true;
      return;
    }
    throw err;
  }
  render(res);
}

function render(res) {
  const note = $('spend-note');
  const table = $('spend-table');
  if (!res.enabled) {
    note.textContent = 'Accounting is off: set ai.prices (or a budget or token limit on a client key).';
    table.hidden = true;
    return;
  }
  if (res.rows.length === 0) {
    note.textContent = `No spend in ${res.month} (UTC) yet.`;
    table.hidden = true;
    return;
  }
  note.textContent = `UTC day ${res.day}, month ${res.month}. Day resets ${res.resets.day}.`;
  const budgets = new Map(res.budgets.map((b) => [b.key, b]));
  const cell = (cls, label, text) => el('td', { class: cls, 'data-label': label, text });
  const rows = res.rows
    .filter((r) => r.scope !== 'tenant' || r.name)
    .map((r) => {
      const b = r.scope === 'key' ? budgets.get(r.name) : undefined;
      const limit = [];
      if (b?.budget?.usdPerDay !== undefined) limit.push(`${usd(r.day.usd)} of ${usd(b.budget.usdPerDay)} a day`);
      if (b?.budget?.usdPerMonth !== undefined) limit.push(`${usd(r.month.usd)} of ${usd(b.budget.usdPerMonth)} a month`);
      if (b?.limits?.tokensPerMinute !== undefined) limit.push(`${b.limits.tokensPerMinute} tokens/min`);
      const over =
        (b?.budget?.usdPerDay !== undefined && r.day.usd >= b.budget.usdPerDay) ||
        (b?.budget?.usdPerMonth !== undefined && r.month.usd >= b.budget.usdPerMonth);
      return el(
        'tr',
        { 'data-scope': r.scope, 'data-name': r.name, class: over ? 'over-budget' : '' },
        cell('scope', 'Scope', r.scope),
        el('th', { scope: 'row', 'data-label': 'Name', text: r.name }),
        cell('num day', 'Today', usd(r.day.usd)),
        cell('num month', 'This month', usd(r.month.usd)),
        cell('num tokens', 'Tokens (month)', String(r.month.tokens)),
        cell('num requests', 'Requests (month)', String(r.month.requests)),
        cell('budget', 'Budget', limit.join(', ') || '–'),
      );
    });
  $('spend-body').replaceChildren(...rows);
  table.hidden = false;
}

/** Fills the Cost cell of every job on the page (jobs the key may see; none when accounting is off). */
async function loadJobCosts() {
  const ids = [...page.jobs.keys()].slice(0, 200);
  if (ids.length === 0) return;
  const res = await api(`/v1/admin/spend/jobs?ids=${encodeURIComponent(ids.join(','))}`);
  for (const id of ids) {
    const cellNode = page.jobs.get(id)?.row.querySelector('td.cost');
    if (!cellNode) continue;
    const cost = res.jobs[id];
    const text = cost ? usd(cost.usd) : '–';
    if (cellNode.textContent !== text) cellNode.textContent = text;
    if (cost)
      cellNode.title = `$${cost.usd}${
        cost.steps
          ? ` (${Object.entries(cost.steps)
              .map(([s, v]) => `${s}: $${v}`)
              .join(', ')})`
          : ''
      }`;
  }
}
