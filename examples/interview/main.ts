/**
 * `npm run example -- interview`. With GROQ_API_KEY (and optionally GROQ_API_KEY_2/_3, HF_TOKEN,
 * HF_TOKEN_2) set, calls Groq then Hugging Face; otherwise two local mock providers.
 * `npm run example -- interview --break-key-0` shows the failure scenario live: Groq key #0 is
 * broken (the mock answers it 429 for ever; with real keys a refused key is put first), and every
 * answer says it was served by another key.
 */
import { startMockProvider } from '../../test/support/mock-provider.js';
import { anySet, runMain } from '../shared/run-main.js';
import { startInterview, type InterviewProviders } from './app.js';

await runMain(async () => {
  const env = process.env;
  const breakKey0 = process.argv.includes('--break-key-0');
  const real = anySet(env, ['GROQ_API_KEY']);
  const mocks = real ? [] : [await startMockProvider(), await startMockProvider()];
  const numbered = (name: string, n: number) =>
    Array.from({ length: n }, (_, i) => (i === 0 ? name : `${name}_${i + 1}`))
      .filter((v) => anySet(env, [v]))
      .map((v) => `env:${v}`);
  const providers: InterviewProviders = real
    ? {
        groq: { baseURL: 'https://api.groq.com/openai/v1', apiKeys: numbered('GROQ_API_KEY', 3) },
        huggingface: { baseURL: 'https://router.huggingface.co/v1', apiKeys: numbered('HF_TOKEN', 2) },
      }
    : {
        groq: { baseURL: `${mocks[0]!.url}/v1`, apiKeys: ['mock-groq-1', 'mock-groq-2', 'mock-groq-3'] },
        huggingface: { baseURL: `${mocks[1]!.url}/v1`, apiKeys: ['mock-hf-1', 'mock-hf-2'] },
      };
  if (breakKey0) {
    if (real) providers.groq.apiKeys.unshift('gsk_broken-on-purpose-for-the-demo');
    else mocks[0]!.faultForKey('mock-groq-1', '429-always');
  }
  const app = await startInterview({
    providers,
    dotenv: true,
    config: { server: { port: Number(env.PORT ?? 0) }, data: env.TASKLANE_DATA ?? './data/examples/interview' },
  });
  return {
    url: app.url,
    hints: [
      `curl -s -X POST ${app.url}/interviews -H 'content-type: application/json' -d '{"role":"Software Engineer","difficulty":"Easy"}'`,
      `curl -s -X POST ${app.url}/interviews -H 'content-type: application/json' -d '{"role":"Software Engineer","difficulty":"Easy","mode":"sync"}'`,
      `curl -s -X POST ${app.url}/interviews -H 'content-type: application/json' -d '{"role":"Software Engineer","difficulty":"Easy","review":true}'   # then approve: curl -s -X POST ${app.url}/v1/jobs/<sessionId>/signals/review -H 'content-type: application/json' -d '{"approved":true,"reviewer":"you"}'`,
      real ? 'AI: Groq, then Hugging Face' : 'AI: two local mock providers (set GROQ_API_KEY to use Groq)',
      breakKey0
        ? 'failure scenario on: Groq key #0 is broken; each question\'s "served" shows keyIndex 1 or 2, never 0, and no interview fails'
        : 'failure scenario: restart with --break-key-0 (npm run example -- interview --break-key-0)',
    ],
    close: async () => {
      await app.close();
      await Promise.all(mocks.map((m) => m.close()));
    },
  };
});
