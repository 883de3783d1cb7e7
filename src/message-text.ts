import type { RecordedEvent } from './events/define';
import { InboundDropped } from './events/inbound';
import { OutboundDropped } from './events/outbound';

/** The readable part of a message's content: its text, a task's prompt or a card's question. */
export function textOf(content: unknown): string | null {
  let value = content;
  if (typeof content === 'string') {
    try {
      value = JSON.parse(content);
    } catch {
      return content;
    }
  }
  if (typeof value !== 'object' || value === null) return null;
  const { text, prompt, question } = value as Record<string, unknown>;
  const found = [text, prompt, question].find((field) => typeof field === 'string');
  return typeof found === 'string' ? found : null;
}

/** The content an event carries for its message, whichever side it was decided on. */
export function contentOf(event: RecordedEvent | undefined): unknown {
  if (!event) return undefined;
  if (OutboundDropped.is(event)) return event.data.row.content;
  if (InboundDropped.is(event)) return { text: event.data.evidence.text };
  return (event.data as { content?: unknown }).content;
}
