// Flat cost as the backlog grows (issue 22): the same figures at several backlog sizes, SQLite
// and the Redis engine (memory per queued job side by side with raw BullMQ), one JSON line per
// size and engine, then one summary line with the growth ratios (largest ÷ smallest).
// BENCH_SIZES (default 10000,100000; add 1000000 for the full table), BENCH_ENGINES (sqlite,redis).
// Needs `npm run build`. Not part of `npm test`.
import { sqliteScale } from './scale/sqlite.js';
import { redisScale } from './scale/redis.js';

const sizes = (process.env.BENCH_SIZES ?? '10000,100000').split(',').map(Number);
const engines = (process.env.BENCH_ENGINES ?? 'sqlite,redis').split(',');
const rows = [];
for (const engine of engines) {
  for (const n of sizes) {
    const row = engine === 'sqlite' ? await sqliteScale(n) : await redisScale(n);
    rows.push(row);
    console.log(JSON.stringify({ bench: 'scale', ...row }));
  }
}
const growth = {};
for (const engine of engines) {
  const mine = rows.filter((r) => r.engine === engine);
  if (mine.length < 2) continue;
  const [a, b] = [mine[0], mine[mine.length - 1]];
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === 'number' && typeof a[k] === 'number' && a[k] > 0 && !['backlog', 'fill_s'].includes(k))
      growth[`${engine}.${k}`] = Math.round((v / a[k]) * 100) / 100;
  }
}
console.log(JSON.stringify({ bench: 'scale', growth, from: sizes[0], to: sizes[sizes.length - 1] }));
process.exit(0);
