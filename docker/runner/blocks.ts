/**
 * The agent's output, split into what it addresses to a destination and what is only
 * its scratchpad. `<message to="name">…</message>` blocks are sent; untagged text and
 * `<internal>…</internal>` sections (anywhere, also inside a block) are logged, never
 * sent. Every scan only moves forward, so parsing is linear in the output's length
 * whatever it holds: no regular expression ever runs over unbounded text.
 */
export interface Block {
  to: string;
  body: string;
}

export interface ParsedOutput {
  blocks: Block[];
  scratchpad: string[];
}

const OPEN = '<message';
const CLOSE = '</message>';
const INTERNAL_OPEN = '<internal>';
const INTERNAL_CLOSE = '</internal>';
/** `to="name"` or `to='name'` inside the opening tag, spaces allowed around `=`. */
const TO_ATTRIBUTE = /(?:^|\s)to\s*=\s*(?:"([^"]*)"|'([^']*)')/;

/** Whether `<message` at this index starts a tag (not `<messages`, say). */
const isOpenTag = (text: string, index: number): boolean => /[\s>]/.test(text.charAt(index + OPEN.length));

function nextOpen(text: string, from: number): number {
  for (let index = text.indexOf(OPEN, from); index !== -1; index = text.indexOf(OPEN, index + 1)) {
    if (isOpenTag(text, index)) return index;
  }
  return -1;
}

/**
 * The index of the `</message>` that closes a block whose body starts at `from`. A
 * `<message>` inside a block is part of its text (the agent quoting one, say): nested
 * tags are counted so the inner close does not end the outer block. -1 when the block
 * is never closed. Both cursors only move forward.
 */
function matchingClose(text: string, from: number): number {
  let depth = 1;
  let open = nextOpen(text, from);
  let close = text.indexOf(CLOSE, from);
  while (close !== -1) {
    if (open !== -1 && open < close) {
      depth++;
      open = nextOpen(text, open + OPEN.length);
      continue;
    }
    if (--depth === 0) return close;
    close = text.indexOf(CLOSE, close + CLOSE.length);
  }
  return -1;
}

/** The text without its `<internal>` sections, which go to `note`; an unclosed one runs to the end. */
function withoutInternal(text: string, note: (text: string) => void): string {
  let said = '';
  let index = 0;
  for (let open = text.indexOf(INTERNAL_OPEN); open !== -1; open = text.indexOf(INTERNAL_OPEN, index)) {
    said += text.slice(index, open);
    const close = text.indexOf(INTERNAL_CLOSE, open + INTERNAL_OPEN.length);
    note(text.slice(open + INTERNAL_OPEN.length, close === -1 ? text.length : close));
    index = close === -1 ? text.length : close + INTERNAL_CLOSE.length;
  }
  return said + text.slice(index);
}

export function parseBlocks(output: string): ParsedOutput {
  const blocks: Block[] = [];
  const scratchpad: string[] = [];
  const note = (text: string) => {
    if (text.trim() !== '') scratchpad.push(text.trim());
  };
  // The next tag of each kind at or after the cursor, searched again only once passed.
  let message = -2;
  let internal = -2;
  let index = 0;
  while (index < output.length) {
    if (message !== -1 && message < index) message = nextOpen(output, index);
    if (internal !== -1 && internal < index) internal = output.indexOf(INTERNAL_OPEN, index);
    if (message === -1 && internal === -1) {
      note(output.slice(index));
      break;
    }
    const isInternal = internal !== -1 && (message === -1 || internal < message);
    const next = isInternal ? internal : message;
    note(output.slice(index, next));
    if (isInternal) {
      const end = output.indexOf(INTERNAL_CLOSE, next + INTERNAL_OPEN.length);
      note(output.slice(next + INTERNAL_OPEN.length, end === -1 ? output.length : end));
      index = end === -1 ? output.length : end + INTERNAL_CLOSE.length;
      continue;
    }
    const tagEnd = output.indexOf('>', next);
    const close = tagEnd === -1 ? -1 : matchingClose(output, tagEnd + 1);
    if (close === -1) {
      // Never closed: the agent did not finish saying it, so it is not sent.
      note(output.slice(next));
      break;
    }
    const attributes = TO_ATTRIBUTE.exec(output.slice(next + OPEN.length, tagEnd));
    const to = (attributes?.[1] ?? attributes?.[2] ?? '').trim();
    const body = withoutInternal(output.slice(tagEnd + 1, close), note).trim();
    // No name, or nothing left to say: there is nothing a chat could show, so it stays private.
    if (to === '' || body === '') note(output.slice(next, close + CLOSE.length));
    else blocks.push({ to, body });
    index = close + CLOSE.length;
  }
  return { blocks, scratchpad };
}
