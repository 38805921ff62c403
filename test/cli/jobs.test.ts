/**
 * `tasklane jobs` as a user runs it: the built CLI against a real `tasklane serve` process.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/runtime.js';
import { assertBuilt, runCli, startServe, type ServeProcess } from './cli-process.js';

const KEY = 'cli-key-1234';

describe('tasklane jobs', () => {
  let serve: ServeProcess;
  let tmp: { dir: string; remove(): void };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    assertBuilt('cli/jobs.js');
    tmp = tempDir();
    const config = join(tmp.dir, 'tasklane.config.json');
    writeFileSync(config, JSON.stringify({ server: { apiKeys: [KEY] } }));
    serve = await startServe(['--port', '0', '--data', join(tmp.dir, 'data'), '--config', config], { cwd: tmp.dir });
    env = { TASKLANE_URL: serve.url, TASKLANE_API_KEY: KEY };
  });
  afterAll(async () => {
    await serve?.stop();
    tmp?.remove();
  });

  it('submit --watch follows demo.progress and exits 0 with the result on stdout', async () => {
    const r = await runCli(['jobs', 'submit', 'demo.progress', '--input', '{"steps":4,"ms":20}', '--watch'], { env });
    expect(r.stderr).toContain('succeeded');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('{"steps":4}');
    // Not a terminal: plain lines, no carriage returns.
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).toMatch(/progress 100% \(4\/4\)/);
  });

  it('submit prints the id; watch exits 1 when the job is cancelled; list shows it', async () => {
    const submitted = await runCli([
      'jobs',
      'submit',
      'demo.progress',
      '--input',
      '{"steps":200,"ms":50}',
      '--url',
      serve.url,
      '--key',
      KEY,
      '--priority',
      '2',
      '--idempotency-key',
      'cli-1',
    ]);
    expect(submitted.code).toBe(0);
    const id = submitted.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const again = await runCli(['jobs', 'submit', 'demo.progress', '--input', '{"steps":200,"ms":50}', '--idempotency-key', 'cli-1'], {
      env,
    });
    expect(again.stdout.trim()).toBe(id);

    const watching = runCli(['jobs', 'watch', id], { env });
    await new Promise((r) => setTimeout(r, 500));
    const cancel = await fetch(`${serve.url}/v1/jobs/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
    expect(cancel.status).toBe(200);
    const w = await watching;
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(new RegExp(`job ${id} cancelled`));

    const list = await runCli(['jobs', 'list', '--state', 'cancelled', '--limit', '5'], { env });
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(/cancelled\s+demo\.progress/);
    const json = await runCli(['jobs', 'list', '--task', 'demo.progress', '--json'], { env });
    expect(JSON.parse(json.stdout).jobs.map((j: { id: string }) => j.id)).toContain(id);
  });

  it('exits 2 naming the flag for bad --input, unknown flags and bad numbers; 2 for input the task rejects', async () => {
    const badJson = await runCli(['jobs', 'submit', 'demo.progress', '--input', '{steps:'], { env });
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/--input must be JSON/);
    const unknown = await runCli(['jobs', 'submit', 'demo.progress', '--colour', 'red'], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option --colour/);
    const badNumber = await runCli(['jobs', 'submit', 'demo.progress', '--delay-ms', 'soon'], { env });
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toMatch(/--delay-ms must be a whole number/);
    const badState = await runCli(['jobs', 'list', '--state', 'sleeping'], { env });
    expect(badState.code).toBe(2);
    expect(badState.stderr).toMatch(/--state must be one of/);
    const rejected = await runCli(['jobs', 'submit', 'demo.progress', '--input', '{"steps":-1}'], { env });
    expect(rejected.code).toBe(2);
    expect(rejected.stderr).toMatch(/TL_ERR_VALIDATION: input of task "demo.progress" is invalid: steps/);
    const noTask = await runCli(['jobs', 'submit', 'no.such.task'], { env });
    // An unknown task is the caller's mistake, like a validation error: exit 2.
    expect(noTask.code).toBe(2);
    expect(noTask.stderr).toMatch(/TL_ERR_JOB_UNKNOWN_TASK/);
  });

  it('exits 1 naming the URL and how to start a server when none answers, and asks for a key when it is missing', async () => {
    const down = await runCli(['jobs', 'list', '--url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach tasklane at http://127.0.0.1:1');
    expect(down.stderr).toContain('tasklane serve');
    const noKey = await runCli(['jobs', 'list'], { env: { TASKLANE_URL: serve.url } });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/TL_ERR_AUTH_MISSING.*\n.*--key/);
  });

  it('prints help and the version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/jobs\s+submit, watch, get, cancel, retry and list jobs/);
    expect(help.stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*unknown task.*\n {2}130 /);
    const jobsHelp = await runCli(['jobs', '--help']);
    expect(jobsHelp.code).toBe(0);
    expect(jobsHelp.stdout).toMatch(/tasklane jobs <command>/);
    const submitHelp = await runCli(['jobs', 'submit', '--help']);
    expect(submitHelp.code).toBe(0);
    expect(submitHelp.stdout).toMatch(/--idempotency-key/);
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const noSub = await runCli(['jobs', 'launch']);
    expect(noSub.code).toBe(2);
    expect(noSub.stderr).toMatch(/unknown jobs command "launch"/);
  });
});
