import type { ToolContext } from '../tools';
import { AnthropicProvider } from './anthropic';
import { EchoProvider } from './echo';

/** One message as the model sees it. */
export interface Turn {
  /** The sender, by this agent's own name for it; undefined when its map has none. */
  from: string | undefined;
  kind: string;
  text: string;
}

/**
 * Something that answers a message with text in which `<message to>` blocks are the sends;
 * it may also act through the tools while it answers (the context is what they act on).
 */
export interface Provider {
  respond(turn: Turn, context: ToolContext): Promise<string>;
  /** Before the first message: what the provider runs beside the runner (MCP servers). */
  start?(): Promise<void>;
  /** When the runner stops: ends what start began. */
  close?(): Promise<void>;
}

export function providerFor(name: string, env: NodeJS.ProcessEnv): Provider {
  switch (name) {
    case 'echo':
      return new EchoProvider();
    case 'anthropic':
      return new AnthropicProvider(env);
    default:
      throw new Error(`unknown SWITCHYARD_AGENT_PROVIDER ${name}: expected echo or anthropic`);
  }
}

/** The message as the model reads it, attributed the way the reference runner does. */
export const formatTurn = (turn: Turn): string => `<message from="${turn.from ?? 'unknown'}" kind="${turn.kind}">${turn.text}</message>`;
