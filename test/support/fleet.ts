import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConfigInput } from '../../src/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const NODE_SCRIPT = join(ROOT, 'test/fleet/fixtures/node.ts');

/** One tasklane server process of a fleet. */
export interface FleetNode {
  readonly name: string;
  url: string;
  workerId: string;
  proc: ChildProcess;
  /** stderr lines (logs), for failure messages. */
  readonly stderr: string[];
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts it again with the same config (a new port and worker id). */
  restart(): Promise<void>;
}

/** Writes a config file for fleet processes into `dir`. */
export function writeConfig(dir: string, name: string, config: ConfigInput): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Spawns a server process on `configPath` and waits for its `listening` line (bounded). */
export async function startNode(name: string, configPath: string, timeoutMs = 30_000): Promise<FleetNode> {
  const node = { name, url: '', workerId: '', stderr: [] as string[] } as FleetNode;
  const launch = async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', NODE_SCRIPT, configPath], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    node.proc = proc;
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      node.stderr.push(l);
      if (node.stderr.length > 200) node.stderr.shift();
    });
    const lines = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolveUp, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`fleet node ${name} did not start within ${timeoutMs} ms:\n${node.stderr.slice(-20).join('\n')}`));
      }, timeoutMs);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fleet node ${name} exited with ${code} before listening:\n${node.stderr.slice(-20).join('\n')}`));
      });
      lines.on('line', (line) => {
        const m = /^listening (\S+) (\S+)/.exec(line);
        if (!m) return;
        clearTimeout(timer);
        node.url = m[1]!;
        node.workerId = m[2]!;
        resolveUp();
      });
    });
  };
  node.stop = async (signal = 'SIGTERM') => {
    const proc = node.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  node.restart = launch;
  await launch();
  return node;
}

/** Polls until `check` is true (bounded), with a message naming what did not happen. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
