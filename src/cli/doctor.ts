import { loadConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../runtime/logger.js';
import { parseArgs, UsageError } from './args.js';
import { checkProviders, formatChecks } from '../ai/provider-checks.js';

export const doctorHelp = `Usage: tasklane doctor [options]

Loads the configuration, resolves every provider key and checks that each provider answers
with each key (lists its models), and how fast. Prints a table; never prints a key.

Options:
  --config FILE      configuration file, JSON or YAML (env TASKLANE_CONFIG)
  --timeout-ms N     budget of each check, in ms (default 5000)
  --json             print the checks as JSON instead of a table
  -h, --help         this help

Exit code: 0 when every check passes, 1 when one fails, 2 on a configuration error.`;

export async function doctor(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(
    argv,
    { config: 'string', 'timeout-ms': 'string', json: 'boolean', help: 'boolean', h: 'boolean' },
    'doctor',
  );
  if (flags.help || flags.h) {
    process.stdout.write(`${doctorHelp}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"; see tasklane doctor --help`);
  const raw = flags['timeout-ms'] as string | undefined;
  const timeoutMs = raw === undefined ? 5_000 : Number(raw);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new UsageError(`--timeout-ms "${raw}" is not a positive whole number of milliseconds`);

  const config = loadConfig({ file: flags.config as string | undefined });
  if (Object.keys(config.providers).length === 0) {
    throw new ConfigError(
      `no providers configured${config.file ? ` in ${config.file}` : ''}; add "providers" to the config, or set OPENAI_API_KEY, GROQ_API_KEY, OPENROUTER_API_KEY, MISTRAL_API_KEY, HF_TOKEN, ANTHROPIC_API_KEY, GEMINI_API_KEY or OLLAMA_HOST`,
    );
  }
  // Provider adapters log at debug; doctor's output is the table.
  const log = createLogger({ level: 'silent', scrub: (t) => t });
  const rows = await checkProviders(config, { timeoutMs, log });
  if (flags.json) process.stdout.write(`${JSON.stringify({ ok: rows.every((r) => r.status === 'ok'), checks: rows })}\n`);
  else {
    const failed = rows.filter((r) => r.status !== 'ok').length;
    process.stdout.write(
      `${formatChecks(rows)}\n\n${failed === 0 ? `all ${rows.length} checks passed` : `${failed} of ${rows.length} checks failed`}\n`,
    );
  }
  return rows.every((r) => r.status === 'ok') ? 0 : 1;
}
