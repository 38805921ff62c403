import { parseArgs, UsageError } from './args.js';

export const spendHelp = `Usage: tasklane spend [options]

Prints what each client key, tenant and provider spent on AI calls this UTC day and month
(GET /v1/admin/spend, admin scope), with each key's budget (server.apiKeys[].budget) and
token limit. Costs come from ai.prices; with no prices, budgets or token limits configured,
accounting is off and there is nothing to show.

Options:
  --url URL       the server (env TASKLANE_URL, default http://127.0.0.1:8080)
  --key KEY       a client key with the admin scope (env TASKLANE_API_KEY)
  --json          print the server's answer as JSON
  -h, --help      this help

Exit code: 0 when printed, 1 when refused or unreachable.`;

interface Figures {
  usd: number;
  tokens: number;
  requests: number;
}

interface SpendAnswer {
  enabled?: boolean;
  day?: string;
  month?: string;
  resets?: { day: string; month: string };
  rows?: Array<{ scope: string; name: string; day: Figures; month: Figures }>;
  budgets?: Array<{ key: string; budget?: { usdPerDay?: number; usdPerMonth?: number }; limits?: Record<string, number> }>;
  error?: { code: string; message: string };
}

export async function spend(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { url: 'string', key: 'string', json: 'boolean', help: 'boolean', h: 'boolean' }, 'spend');
  if (flags.help || flags.h) {
    process.stdout.write(`${spendHelp}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see tasklane spend --help`);
  const url = ((flags.url as string | undefined) ?? process.env.TASKLANE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const key = (flags.key as string | undefined) ?? process.env.TASKLANE_API_KEY;
  let res: Response;
  try {
    res = await fetch(`${url}/v1/admin/spend`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    process.stderr.write(`tasklane spend: ${url} cannot be reached (${(err as Error).message}); check --url / TASKLANE_URL\n`);
    return 1;
  }
  const body = (await res.json().catch(() => ({}))) as SpendAnswer;
  if (!res.ok) {
    process.stderr.write(`tasklane spend: ${body.error?.code ?? res.status}: ${body.error?.message ?? 'refused'}\n`);
    return 1;
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(body)}\n`);
    return 0;
  }
  process.stdout.write(table(body));
  return 0;
}

/** The report as aligned text: one line per key, tenant and provider. */
export function table(body: SpendAnswer): string {
  if (!body.enabled) return 'accounting is off: set ai.prices (or a budget or token limit on a client key) to track spend\n';
  const budgets = new Map((body.budgets ?? []).map((b) => [b.key, b]));
  const head = ['scope', 'name', `usd ${body.day}`, `usd ${body.month}`, 'tokens (month)', 'requests (month)', 'budget'];
  const lines = (body.rows ?? []).map((r) => {
    const b = r.scope === 'key' ? budgets.get(r.name)?.budget : undefined;
    const budget = b
      ? [b.usdPerDay !== undefined ? `$${b.usdPerDay}/day` : '', b.usdPerMonth !== undefined ? `$${b.usdPerMonth}/month` : '']
          .filter(Boolean)
          .join(' ')
      : '';
    return [r.scope, r.name, usd(r.day.usd), usd(r.month.usd), String(r.month.tokens), String(r.month.requests), budget];
  });
  if (lines.length === 0) return `no spend recorded in ${body.month} (UTC)\n`;
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()}\n`;
  return fmt(head) + lines.map(fmt).join('') + `day resets ${body.resets?.day}, month resets ${body.resets?.month}\n`;
}

/** USD to 6 decimals for reading (the API keeps the unrounded figure). */
function usd(n: number): string {
  return `$${n.toFixed(6)}`;
}
