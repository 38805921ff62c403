/**
 * `tasklane/client`: a typed client for a tasklane server's jobs API, for Node 20 and browsers.
 * It depends on no Node builtin, and on the server only for types.
 */
export {
  TasklaneClient,
  JobsClient,
  type TasklaneClientOptions,
  type CallOptions,
  type SubmitOptions,
  type StreamToken,
} from './client.js';
export { TasklaneClientError } from './errors.js';
export type { EventsOptions } from './sse.js';
export type { WatchOptions, SocketFactory, SocketLike } from './watch.js';
export type { JobRecord, JobEvent, JobEventType, JobState, EnqueueOptions, ListQuery } from '../jobs/types.js';
