export { Lanes, DEFAULT_LANES } from './lanes.js';
export { Lane } from './lane.js';
export type { Placement, LaneOptions, ModuleRef, WorkFn, WorkContext, ThreadHost, RunOptions, LaneStats } from './types.js';
