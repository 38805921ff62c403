// The thread pool's worker file when tasklane runs from its .ts sources (tests, tsx): registers
// tsx's module hooks in this thread, then loads the real entry. Node 20 ignores `--import` in a
// worker's execArgv, and registering from a `--require` preload does not take, hence this file.
// Never used once built: dist/ points Piscina at worker-entry.js directly.
require('tsx/esm/api').register();
const entry = import('./worker-entry.ts');
module.exports = async function runTask(env) {
  return (await entry).default(env);
};
