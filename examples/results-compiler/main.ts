/**
 * `npm run example -- results-compiler`. Uses Groq when GROQ_API_KEY is set, else a local mock
 * provider, so it runs out of the box. `--flood` runs the failure scenario live (see flood.ts).
 */
import { startMockProvider } from '../../test/support/mock-provider.js';
import { anySet, runMain } from '../shared/run-main.js';
import { ANALYST_MODEL, startResultsCompiler } from './app.js';
import { flood } from './flood.js';

await runMain(async () => {
  const real = anySet(process.env, ['GROQ_API_KEY']);
  const mock = real ? undefined : await startMockProvider();
  const app = await startResultsCompiler({
    dotenv: true,
    config: {
      server: { port: Number(process.env.PORT ?? 0) },
      data: process.env.TASKLANE_DATA ?? './data/examples/results-compiler',
      providers: {
        groq: real
          ? { type: 'openai-compatible', baseURL: 'https://api.groq.com/openai/v1', apiKeys: ['env:GROQ_API_KEY'] }
          : { type: 'openai-compatible', baseURL: `${mock!.url}/v1`, apiKeys: ['mock-key'] },
      },
      models: { [ANALYST_MODEL]: [{ provider: 'groq', model: 'llama-3.1-8b-instant' }] },
    },
  });
  const flooding = process.argv.includes('--flood');
  if (flooding) setTimeout(() => void flood(app.url, (line) => process.stdout.write(`${line}\n`)), 200);
  return {
    url: app.url,
    hints: [
      `curl -s -X POST ${app.url}/uploads -H 'content-type: text/csv' --data-binary $'student,subject,score\\nann,maths,71\\nbob,maths,64'`,
      `curl -s -X POST ${app.url}/uploads/<id>/compile -H 'content-type: application/json' -d '{"bootstrap":10000}'`,
      `curl -s -o results.xlsx ${app.url}/results/<id>      curl -s ${app.url}/health`,
      real ? 'AI: Groq (GROQ_API_KEY)' : 'AI: local mock provider (set GROQ_API_KEY to use Groq)',
      flooding
        ? 'failure scenario on: flooding the data lane now (result below)'
        : 'failure scenario: restart with --flood (npm run example -- results-compiler --flood)',
    ],
    close: async () => {
      await app.close();
      await mock?.close();
    },
  };
});
