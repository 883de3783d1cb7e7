import Anthropic from '@anthropic-ai/sdk';
import type { DestinationMap } from '../destinations';
import { formatTurn, type Provider, type Turn } from './index';

const BASE_PROMPT = 'You are an assistant agent living in a container. People and other agents write to you; you answer with messages.';

/** Claude through the official SDK; the key (and, for tests, the base URL) come from the environment. */
export class AnthropicProvider implements Provider {
  private readonly client: Anthropic;
  private readonly model: string;

  constructor(env: NodeJS.ProcessEnv) {
    if (!env.ANTHROPIC_API_KEY) throw new Error('the anthropic provider needs ANTHROPIC_API_KEY');
    this.client = new Anthropic({ apiKey: env.ANTHROPIC_API_KEY, ...(env.ANTHROPIC_BASE_URL && { baseURL: env.ANTHROPIC_BASE_URL }) });
    this.model = env.SWITCHYARD_ANTHROPIC_MODEL ?? 'claude-sonnet-4-5';
  }

  async respond(turn: Turn, destinations: DestinationMap): Promise<string> {
    const response = await this.client.messages.create({
      model: this.model,
      max_tokens: 4096,
      system: `${BASE_PROMPT}\n\n${destinations.promptAddendum()}`,
      messages: [{ role: 'user', content: formatTurn(turn) }],
    });
    return response.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n');
  }
}
