import type { AiHealth } from '../../ai/orchestrator.js';
import type { TappableAi } from '../../ai/request-log.js';
import type { JobSystem } from '../../jobs/types.js';
import type { HistorySource } from './history.js';

/**
 * What the dashboard reads of a runtime, and nothing more: the loop, metrics and scrubber of the
 * kernel, and whichever subsystems are there (`Runtime` has all three; a host built by hand may
 * lack some, and the overview then reports that part as `null`).
 */
export interface DashboardSource extends HistorySource {
  scrub(text: string): string;
  ai?: TappableAi & { health(): AiHealth };
  jobs?: Pick<JobSystem, 'list' | 'tasks' | 'counts'>;
}
