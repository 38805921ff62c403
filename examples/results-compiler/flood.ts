/**
 * `npm run example -- results-compiler --flood`: the failure scenario, live. Twenty users upload
 * and compile at once (each compile a CPU-heavy bootstrap in the `data` thread lane) while /health
 * is asked every 100 ms; one line says how long the flood took and how fast /health stayed. In the
 * original system the same load stalled the server for everyone.
 */
export async function flood(
  url: string,
  out: (line: string) => void,
  users = 20,
): Promise<{ ok: number; healthP50: number; healthMax: number }> {
  const latencies: number[] = [];
  let running = true;
  const probe = (async () => {
    while (running) {
      const t0 = performance.now();
      await fetch(`${url}/health`).then((r) => r.text());
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const t0 = performance.now();
  out(`flood: ${users} users upload and compile at once (bootstrap 20000 each, data lane); /health is asked every 100 ms`);
  const results = await Promise.allSettled(
    Array.from({ length: users }, async (_, user) => {
      const rows = ['student,subject,score'];
      for (let s = 0; s < 30; s++)
        for (const subject of ['maths', 'physics', 'history']) rows.push(`s${user}-${s},${subject},${(s * 7 + user * 3) % 100}`);
      const up = await fetch(`${url}/uploads`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: rows.join('\n') });
      const { id } = (await up.json()) as { id: string };
      const res = await fetch(`${url}/uploads/${id}/compile`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ bootstrap: 20_000 }),
      });
      await res.text();
      if (res.status !== 200) throw new Error(`compile answered ${res.status}`);
    }),
  );
  running = false;
  await probe;
  const sorted = latencies.sort((a, b) => a - b);
  const healthP50 = Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0);
  const healthMax = Math.round(sorted.at(-1) ?? 0);
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  out(
    `flood: ${ok}/${users} compiled in ${((performance.now() - t0) / 1000).toFixed(1)} s; /health answered ${sorted.length} times, p50 ${healthP50} ms, max ${healthMax} ms (the loop never ran the work)`,
  );
  return { ok, healthP50, healthMax };
}
