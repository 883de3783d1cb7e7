import Anthropic from '@anthropic-ai/sdk';
import type { DestinationMap } from '../destinations';
import { formatTurn, type Provider, type Turn } from './index';

const DEFAULT_MODEL = 'claude-sonnet-4-5';

/**
 * Claude through the official SDK. The key and the model come from the environment; the
 * SDK itself reads ANTHROPIC_BASE_URL (a proxy, or the tests' loopback server). Each
 * message is one request with one user turn: the runner keeps no conversation memory.
 */
export class AnthropicProvider implements Provider {
  private readonly client: Anthropic;
  private readonly model: string;
  private readonly basePrompt: string;

  constructor(env: NodeJS.ProcessEnv) {
    // Checked here so a missing key stops the runner at start, not on every message.
    if (!env.ANTHROPIC_API_KEY) throw new Error('the anthropic provider needs ANTHROPIC_API_KEY');
    this.client = new Anthropic({ apiKey: env.ANTHROPIC_API_KEY });
    this.model = env.SWITCHYARD_ANTHROPIC_MODEL || DEFAULT_MODEL;
    const name = env.NANOCLAW_ASSISTANT_NAME || env.NANOCLAW_AGENT_GROUP_NAME;
    this.basePrompt = `You are ${name ? `${name}, ` : ''}an assistant agent living in a container. People and other agents write to you; you answer them with messages.`;
  }

  async respond(turn: Turn, destinations: DestinationMap): Promise<string> {
    const response = await this.client.messages.create({
      model: this.model,
      max_tokens: 4096,
      // Built per message: the map may have been reloaded since the last one.
      system: `${this.basePrompt}\n\n${destinations.promptAddendum()}`,
      messages: [{ role: 'user', content: formatTurn(turn) }],
    });
    return response.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n');
  }
}
