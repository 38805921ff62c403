// Mirrors src/jobs/types.ts until it lands; replaced by a re-export then.
export type JobEventType = 'enqueued' | 'started' | 'progress' | 'log' | 'retrying' | 'succeeded' | 'dead' | 'cancelled' | 'cancel-requested';
export interface JobEvent { jobId: string; seq: number; type: JobEventType; data: unknown; at: number; attempt?: number }
