export { Runtime, createRuntime, type RuntimeOptions, type RuntimeState, type RuntimeEvents } from './runtime.js';
export { Closers, type CloseReport, type Closer } from './closers.js';
export { LoopMonitor, type LoopSnapshot } from './loop-monitor.js';
export { handleSignals } from './signals.js';
export type { Logger } from './logger.js';
