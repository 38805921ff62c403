import type { Logger } from '../../../runtime/logger.js';
import type { EmbedCallOptions, EmbedResult, ProviderSettings } from '../../provider.js';
import { failOnStatus, malformed, readJson } from '../http/response.js';
import type { UpstreamErrorInfo } from '../http/status.js';
import { OpenAICompatibleModel } from '../openai-compatible/openai-compatible-model.js';
import { convertFeatures, featureExtractionPath } from './feature-extraction.js';
import { parseHfErrorBody } from './parse-error.js';

/**
 * Hugging Face Inference (router.huggingface.co/v1) and TGI servers: OpenAI chat completions under
 * the base URL, with TGI's error bodies and model-loading waits; embeddings by feature extraction.
 */
export class HuggingFaceModel extends OpenAICompatibleModel {
  override readonly type: string = 'huggingface';
  readonly #baseURL: string;

  constructor(name: string, config: ProviderSettings, options: { log?: Logger } = {}) {
    super(name, config, options);
    this.#baseURL = config.baseURL;
  }

  protected override parseError(text: string): UpstreamErrorInfo {
    return parseHfErrorBody(text);
  }

  override async doEmbed(o: EmbedCallOptions): Promise<EmbedResult> {
    const res = await this.upstream.request({
      method: 'POST',
      path: featureExtractionPath(this.#baseURL, o.request.model),
      fromOrigin: true,
      // Feature extraction has no `dimensions`: the model's own size is what comes back.
      body: { inputs: o.request.input, normalize: false },
      ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
      ctx: { provider: this.name, model: o.request.model, keyIndex: o.keyIndex },
      signal: o.signal,
      timeouts: o.timeouts,
    });
    await failOnStatus(res, (t) => this.parseError(t), o.apiKey);
    const result = convertFeatures(await readJson(res), o.request.input.length, o.request.model);
    if (!result) throw malformed(res, 'one feature vector per input');
    return result;
  }
}
