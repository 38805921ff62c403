/**
 * `npm run example -- documents`. Stores documents in PostgreSQL (DOCUMENTS_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test; tables in schema DOCUMENTS_SCHEMA, default
 * "documents"), or with `--no-postgres` (or DOCUMENTS_STORE=sqlite) in a SQLite file under the
 * data folder, for a machine without PostgreSQL. Summaries come from OpenAI when OPENAI_API_KEY is
 * set, from DOCUMENTS_AI_BASE_URL (any OpenAI-compatible server) when that is set, else from a
 * local mock. The workflow is durable: kill the server mid-run (kill -9) and start it again, and
 * it goes on where it was; DOCUMENTS_LEASE_MS (default 30000) is how long a dead server's jobs
 * stay leased before the restarted one takes them over.
 */
import { join } from 'node:path';
import { startMockProvider } from '../../test/support/mock-provider.js';
import { anySet, runMain, socketCode } from '../shared/run-main.js';
import { startDocuments } from './app.js';
import { storeKind } from './db.js';

const data = process.env.TASKLANE_DATA ?? './data/examples/documents';
if (process.argv.includes('--no-postgres')) process.env.DOCUMENTS_STORE = 'sqlite';
// Read by the main thread (tables) and by every worker thread (its own connection) alike.
process.env.DOCUMENTS_SQLITE_PATH ??= join(data, 'documents.db');

await runMain(
  async () => {
    const real = anySet(process.env, ['OPENAI_API_KEY']);
    const other = process.env.DOCUMENTS_AI_BASE_URL;
    const mock = real || other ? undefined : await startMockProvider();
    const app = await startDocuments({
      summarizer: real
        ? { baseURL: 'https://api.openai.com/v1', apiKeys: ['env:OPENAI_API_KEY'], model: 'gpt-4o-mini' }
        : other
          ? { baseURL: other, apiKeys: ['local'], model: process.env.DOCUMENTS_AI_MODEL ?? 'gpt-mock' }
          : { baseURL: `${mock!.url}/v1`, apiKeys: ['mock-key'], model: 'gpt-mock' },
      dotenv: true,
      config: {
        server: { port: Number(process.env.PORT ?? 0) },
        data,
        ...(process.env.DOCUMENTS_LEASE_MS ? { jobs: { leaseMs: Number(process.env.DOCUMENTS_LEASE_MS) } } : {}),
      },
    });
    return {
      url: app.url,
      hints: [
        `curl -s -X POST ${app.url}/documents -H 'content-type: application/json' -d '{"title":"Hello","format":"markdown","body":"# Hello\\n\\nSome *text* to summarize."}'`,
        `curl -s ${app.url}/documents/<id>`,
        storeKind() === 'sqlite'
          ? `store: SQLite file ${process.env.DOCUMENTS_SQLITE_PATH} (--no-postgres)`
          : 'store: PostgreSQL (run with --no-postgres to use a SQLite file instead)',
        real ? 'AI: OpenAI (OPENAI_API_KEY)' : other ? `AI: ${other}` : 'AI: local mock provider (set OPENAI_API_KEY to use OpenAI)',
      ],
      close: async () => {
        await app.close();
        await mock?.close();
      },
    };
  },
  {
    explain: (err) => {
      const code = socketCode(err)?.code;
      const url = process.env.DOCUMENTS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
      if (
        storeKind() === 'postgres' &&
        (code === 'ECONNREFUSED' ||
          code === 'ENOTFOUND' ||
          code === 'ETIMEDOUT' ||
          /password|role|database/i.test(String((err as Error)?.message)))
      ) {
        return `PostgreSQL is needed at ${url.replace(/\/\/[^@/]*@/, '//…@')}: start it, point DOCUMENTS_DATABASE_URL at one, or run with --no-postgres (a SQLite file instead)`;
      }
      return undefined;
    },
  },
);
