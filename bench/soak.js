// Soak: `tasklane serve` under steady gateway, job, WebSocket and SSE traffic for SOAK_SECONDS
// (default 1200), sampled every SOAK_SAMPLE_S (default 10). Goal: no growth trend (each figure's
// fitted growth within its noise) and the same idle figures before and after (sockets, handles,
// timers, and the heap after a full collection within 5 MB). A stability test,
// so there is no peer side. Needs `npm run build`. Prints progress on stderr and one JSON line;
// SOAK_DEBUG=1 also lists the server's sockets at the two idle samples.
import { runSoak } from './soak/driver.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 1_200);
const sampleS = Number(process.env.SOAK_SAMPLE_S ?? 10);
const result = await runSoak({ seconds, sampleS, log: (line) => process.stderr.write(`${line}\n`) });
const { samples, ...summary } = result;
const flat = Object.fromEntries(Object.entries(summary.metrics).map(([k, v]) => [k, v.flat]));
const { before, after } = summary.idle;
// Retained heap: after a full collection, idle after the traffic against idle after the warm-up.
const heapRetainedMb = Math.round((after.heapGcMb - before.heapGcMb) * 100) / 100;
const idleSame =
  after.sockets - before.sockets <= 1 && after.handles - before.handles <= 1 && after.timers - before.timers <= 1 && heapRetainedMb < 5;
const clean =
  summary.stats.errors.length === 0 &&
  summary.stats.ws.gaps + summary.stats.ws.dups + summary.stats.sse.gaps === 0 &&
  summary.stats.jobs.unfinished === 0;
process.stdout.write(
  `${JSON.stringify({ bench: 'soak', ...summary, verdict: { flat, heapRetainedMb, idleSame, clean, exit0: summary.exit.code === 0, ok: Object.values(flat).every(Boolean) && idleSame && clean && summary.exit.code === 0 }, samples: samples.map((s) => [s.t, Math.round(s.heapMb), Math.round(s.heapTotalMb), Math.round(s.externalMb), Math.round(s.rssMb), s.handles, s.timers, s.sockets, s.fds]) })}\n`,
);
