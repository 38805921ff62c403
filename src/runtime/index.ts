export { RuntimeKernel, type RuntimeOptions, type RuntimeState, type RuntimeEvents } from './kernel.js';
export type { Host } from './host.js';
export { Closers, type CloseReport, type Closer } from './closers.js';
export { LoopMonitor, type LoopSnapshot } from './loop-monitor.js';
export { handleSignals } from './signals.js';
export type { Logger } from './logger.js';
