// Probe process of the sockets bench: GET /healthz one at a time (a new request as soon as the last
// answered, at most one every 5 ms) for SECONDS, then reports the latencies in ms.
const [url, seconds] = process.argv.slice(2);
const until = performance.now() + Number(seconds) * 1000;
const times = [];
while (performance.now() < until) {
  const t0 = performance.now();
  const res = await fetch(`${url}/healthz`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`/healthz answered ${res.status}`);
  const ms = performance.now() - t0;
  times.push(ms);
  if (ms < 5) await new Promise((r) => setTimeout(r, 5 - ms));
}
times.sort((a, b) => a - b);
const q = (p) => Math.round(times[Math.min(times.length - 1, Math.floor(times.length * p))] * 100) / 100;
process.send({ type: 'result', n: times.length, p50_ms: q(0.5), p99_ms: q(0.99), max_ms: q(1) }, () => process.exit(0));
