/**
 * What `tasklane serve` says once it listens: where the dashboard is, which tasks are registered,
 * which AI providers were found (or how to add one), and a command to try. A readable block on a
 * terminal; one JSON log line otherwise, so that log collectors get a record and scripts still
 * read the `listening` line from stdout first.
 */
import type { Runtime } from '../create-runtime.js';
import type { Style } from './style.js';

export interface StartupFacts {
  url: string;
  dashboard: string;
  tasks: string[];
  providers: string[];
  /** Set when no provider was found: how to add one. */
  providerHint?: string;
  /** A command that runs the demo task and follows it, when the demo tasks are registered. */
  tryCommand?: string;
  auth: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:8080';

export function startupFacts(runtime: Runtime, url: string): StartupFacts {
  const tasks = runtime.jobs.tasks().map((t) => t.name);
  const providers = Object.keys(runtime.config.providers);
  const auth = runtime.config.server.apiKeys.length > 0;
  const facts: StartupFacts = { url, dashboard: `${url}/dashboard`, tasks, providers, auth };
  if (providers.length === 0) {
    facts.providerHint = `no AI provider found: set OPENAI_API_KEY, GROQ_API_KEY, OPENROUTER_API_KEY, MISTRAL_API_KEY, HF_TOKEN or OLLAMA_HOST (or .env), or add "providers" to ${runtime.config.file ?? 'tasklane.config.json'}; then check with tasklane doctor`;
  }
  if (tasks.includes('demo.progress')) {
    facts.tryCommand = `tasklane jobs submit demo.progress --input '{}' --watch${url === DEFAULT_URL ? '' : ` --url ${url}`}${auth ? ' --key <client key>' : ''}`;
  }
  return facts;
}

export function formatStartup(facts: StartupFacts, s: Style, version: string): string {
  const row = (label: string, value: string) => `  ${s.dim(label.padEnd(10))} ${value}`;
  const lines = [`${s.green('✓')} ${s.bold(`tasklane ${version}`)} is ready at ${s.cyan(facts.url)}`];
  lines.push(row('dashboard', s.cyan(facts.dashboard)));
  lines.push(row('tasks', facts.tasks.length ? facts.tasks.join(', ') : 'none registered (jobs.modules lists task modules)'));
  lines.push(row('providers', facts.providers.length ? facts.providers.join(', ') : s.yellow(facts.providerHint!)));
  if (facts.tryCommand) lines.push(row('try', s.bold(facts.tryCommand)));
  lines.push(row('stop', 'Ctrl+C (closes jobs, sockets and threads cleanly)'));
  return `${lines.join('\n')}\n`;
}
