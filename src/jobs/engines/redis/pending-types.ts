// Mirrors src/jobs/types.ts until it lands; replaced by a re-export then.
export type JobEventType = 'enqueued' | 'started' | 'progress' | 'log' | 'retrying' | 'succeeded' | 'dead' | 'cancelled' | 'cancel-requested';
export interface JobEvent { jobId: string; seq: number; type: JobEventType; data: unknown; at: number; attempt?: number }
export type JobState = 'queued' | 'delayed' | 'running' | 'succeeded' | 'dead' | 'cancelled';
export interface JobRecord { id: string; task: string; state: JobState; input: unknown; result?: unknown;
  error?: { code: string; message: string }; attempt: number; maxAttempts: number; priority: number;
  idempotencyKey?: string; createdAt: number; updatedAt: number; runAt: number; startedAt?: number; finishedAt?: number;
  progress?: unknown; lastSeq: number; workerId?: string }
export interface EnqueueOptions { priority?: number; delayMs?: number; idempotencyKey?: string; maxAttempts?: number }
export interface ListQuery { state?: JobState; task?: string; limit?: number; cursor?: string }
