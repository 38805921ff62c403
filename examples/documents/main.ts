/**
 * `npm run example -- documents`. Needs PostgreSQL (DOCUMENTS_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test; tables in schema DOCUMENTS_SCHEMA, default
 * "documents"). Summaries come from OpenAI when OPENAI_API_KEY is set, else a local mock.
 */
import { startMockProvider } from '../../test/support/mock-provider.js';
import { anySet, runMain, socketCode } from '../shared/run-main.js';
import { startDocuments } from './app.js';

await runMain(
  async () => {
    const real = anySet(process.env, ['OPENAI_API_KEY']);
    const mock = real ? undefined : await startMockProvider();
    const app = await startDocuments({
      summarizer: real
        ? { baseURL: 'https://api.openai.com/v1', apiKeys: ['env:OPENAI_API_KEY'], model: 'gpt-4o-mini' }
        : { baseURL: `${mock!.url}/v1`, apiKeys: ['mock-key'], model: 'gpt-mock' },
      dotenv: true,
      config: { server: { port: Number(process.env.PORT ?? 0) }, data: process.env.TASKLANE_DATA ?? './data/examples/documents' },
    });
    return {
      url: app.url,
      hints: [
        `curl -s -X POST ${app.url}/documents -H 'content-type: application/json' -d '{"title":"Hello","format":"markdown","body":"# Hello\\n\\nSome *text* to summarize."}'`,
        `curl -s ${app.url}/documents/<id>`,
        real ? 'AI: OpenAI (OPENAI_API_KEY)' : 'AI: local mock provider (set OPENAI_API_KEY to use OpenAI)',
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
        code === 'ECONNREFUSED' ||
        code === 'ENOTFOUND' ||
        code === 'ETIMEDOUT' ||
        /password|role|database/i.test(String((err as Error)?.message))
      ) {
        return `PostgreSQL is needed at ${url.replace(/\/\/[^@/]*@/, '//…@')}: start it, or point DOCUMENTS_DATABASE_URL at one`;
      }
      return undefined;
    },
  },
);
