import type { Provider, Turn } from './index';

const ADDRESSED = /^@to:(\S+) ([\s\S]*)$/;

/**
 * The deterministic built-in agent: it answers each message to where it came from. A
 * message starting `@to:<name> ` is sent to that name instead, so a test (or a curious
 * newcomer) can make it address anything, allowed or not.
 */
export class EchoProvider implements Provider {
  async respond(turn: Turn): Promise<string> {
    const addressed = ADDRESSED.exec(turn.text);
    if (addressed) return `<message to="${addressed[1]}">${addressed[2]}</message>`;
    if (turn.from === undefined) return `nobody to answer: the sender is not in my destination map`;
    return `<message to="${turn.from}">echo: ${turn.text}</message>`;
  }
}
