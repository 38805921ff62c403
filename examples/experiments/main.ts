/** `npm run example -- experiments`: no AI involved, so nothing to configure. */
import { runMain } from '../shared/run-main.js';
import { startExperiments } from './app.js';

await runMain(async () => {
  const app = await startExperiments({
    dotenv: true,
    config: { server: { port: Number(process.env.PORT ?? 0) }, data: process.env.TASKLANE_DATA ?? './data/examples/experiments' },
  });
  return {
    url: app.url,
    hints: [
      `curl -s -X POST ${app.url}/experiments -H 'content-type: application/json' -d '{"size":200,"seed":42}'`,
      `slow enough to watch the curve converge: -d '{"size":200,"seed":42,"stepDelayMs":50}'`,
      `curl -sN ${app.url}/v1/jobs/<experimentId>/events      (or the WebSocket at ${app.url.replace(/^http/, 'ws')}/v1/ws)`,
      `open ${app.url}/dashboard to watch it live`,
    ],
    close: app.close,
  };
});
