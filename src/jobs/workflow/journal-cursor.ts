/**
 * One attempt's view of its job's journal: loaded once on the first workflow call, it hands out
 * each call's key (`<kind>:<name>#<occurrence>`) and position in call order, and refuses a call
 * that sits where the journal recorded another one (TL_ERR_JOB_STEP_MISMATCH): replaying the
 * wrong result would be worse than failing.
 */
import { JobError } from '../../errors.js';
import type { JobEngine, JournalEntry } from '../engine.js';
import { workflowEngine } from './support.js';

export type CallKind = 'step' | 'sleep' | 'signal' | 'spawn' | 'join';

export interface Call {
  key: string;
  pos: number;
  name: string;
  occurrence: number;
  /** What the journal holds for this call, if anything. */
  entry?: JournalEntry;
}

export class JournalCursor {
  readonly #engine: JobEngine;
  readonly #jobId: string;
  readonly #token: string;
  #loading?: Promise<void>;
  readonly #byKey = new Map<string, JournalEntry>();
  readonly #byPos = new Map<number, JournalEntry>();
  readonly #occurrences = new Map<string, number>();
  #pos = 0;
  /** Errors that are the workflow's own final answer (a replayed or stored failure): no job-level retry. */
  readonly final = new WeakSet<object>();

  constructor(engine: JobEngine, jobId: string, token: string) {
    this.#engine = engine;
    this.#jobId = jobId;
    this.#token = token;
  }

  /** The next call of this kind and name, checked against the journal. */
  async next(kind: CallKind, name: string): Promise<Call> {
    // Positions and occurrences are taken before any await, so calls started together
    // (Promise.all of steps) are numbered in the order they were made.
    const pos = this.#pos++;
    const id = `${kind}:${name}`;
    const occurrence = this.#occurrences.get(id) ?? 0;
    this.#occurrences.set(id, occurrence + 1);
    const key = `${id}#${occurrence}`;
    await this.load();
    const there = this.#byPos.get(pos);
    if (there && there.key !== key) {
      throw this.markFinal(
        new JobError(
          'TL_ERR_JOB_STEP_MISMATCH',
          `job ${this.#jobId}: workflow call ${pos + 1} is ${key} but the journal recorded ${there.key} there; the task's calls changed order since this job began (finish or cancel such jobs before deploying a reordered workflow)`,
          { details: { jobId: this.#jobId, pos, call: key, journal: there.key } },
        ),
      );
    }
    return { key, pos, name, occurrence, entry: this.#byKey.get(key) };
  }

  /** A journal entry by key (AI calls inside steps). */
  async get(key: string): Promise<JournalEntry | undefined> {
    await this.load();
    return this.#byKey.get(key);
  }

  /** Stores entries fenced by the attempt's token and keeps them in view. */
  async write(entries: JournalEntry[]): Promise<void> {
    await workflowEngine(this.#engine, 'writeJournal').writeJournal(this.#jobId, this.#token, entries);
    for (const e of entries) this.remember(e);
  }

  remember(e: JournalEntry): void {
    this.#byKey.set(e.key, e);
    if (e.pos !== undefined) this.#byPos.set(e.pos, e);
  }

  /** Entries of one kind (spawn results, for join). */
  entries(prefix: string): JournalEntry[] {
    return [...this.#byKey.values()].filter((e) => e.key.startsWith(prefix));
  }

  markFinal<E extends object>(err: E): E {
    this.final.add(err);
    return err;
  }

  load(): Promise<void> {
    this.#loading ??= workflowEngine(this.#engine, 'readJournal')
      .readJournal(this.#jobId)
      .then((entries) => {
        for (const e of entries) this.remember(e);
      });
    return this.#loading;
  }
}
