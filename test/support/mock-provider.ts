/**
 * The fault-injecting mock upstream: a real HTTP server speaking OpenAI chat completions (JSON and
 * SSE), the TGI flavour under /hf, and Ollama's native /api/chat (NDJSON). See mock-provider/.
 */
export {
  startMockProvider,
  type MockCall,
  type MockProvider,
  type MockProviderOptions,
  type MockResult,
  type MockResponder,
} from './mock-provider/server.js';
export { FAULTS, type FaultName } from './mock-provider/faults.js';
export type { Flavor } from './mock-provider/wire.js';
