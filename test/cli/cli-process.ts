import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin/tasklane.js');

/** The CLI tests run the built CLI, as a user does; `npm test` builds first. */
export function assertBuilt(file: string): void {
  if (!existsSync(join(ROOT, 'dist', file)))
    throw new Error(`dist/${file} is missing: run \`npm run build\` before these tests (npm test does)`);
}

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tasklane <args>` to the end (killed after timeoutMs). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  stderr(): string;
  /** SIGTERM, then the exit code (SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Starts `tasklane serve` and resolves with the URL of its first stdout line. */
export function startServe(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', ...args], {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`tasklane serve printed no URL in time; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.once('exit', (code) => fail(new Error(`tasklane serve exited with ${code} before listening; stderr: ${stderr}`)));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl === -1 || settled) return;
      settled = true;
      clearTimeout(timer);
      const first = stdout.slice(0, nl);
      const m = /^listening (http:\/\/\S+)$/.exec(first);
      if (!m) {
        child.kill('SIGKILL');
        return reject(new Error(`unexpected first line: ${first}`));
      }
      resolve({
        child,
        url: m[1]!,
        stderr: () => stderr,
        async stop(timeoutMs = 15_000) {
          if (child.exitCode !== null) return child.exitCode;
          const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          child.kill('SIGTERM');
          const code = await exited;
          clearTimeout(kill);
          return code;
        },
      });
    });
  });
}
