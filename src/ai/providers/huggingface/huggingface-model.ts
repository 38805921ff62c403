import type { ProviderType } from '../../provider.js';
import type { UpstreamErrorInfo } from '../http/status.js';
import { OpenAICompatibleModel } from '../openai-compatible/openai-compatible-model.js';
import { parseHfErrorBody } from './parse-error.js';

/**
 * Hugging Face Inference (router.huggingface.co/v1) and TGI servers: OpenAI chat completions under
 * the base URL, with TGI's error bodies and model-loading waits.
 */
export class HuggingFaceModel extends OpenAICompatibleModel {
  override readonly type: ProviderType = 'huggingface';

  protected override parseError(text: string): UpstreamErrorInfo {
    return parseHfErrorBody(text);
  }
}
