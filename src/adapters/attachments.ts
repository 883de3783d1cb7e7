import { realpathSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { MessageContent } from '../events/primitives';
import { ensureConfinedDir, UnsafePathError, writeFileAtomic } from './session-db';

/**
 * Inbound attachments (spec §2): each `{name, data(base64), …}` of content.attachments is
 * saved to inbox/<message id>/<safe name> and replaced by its `localPath`. The name comes
 * from a chat platform, i.e. from anyone, so nothing it says may place a file elsewhere.
 */

const MAX_NAME_BYTES = 200;
const SAFE_EXTENSION = /^\.[A-Za-z0-9]{1,16}$/;
// Control characters, plus format characters such as bidi overrides that disguise an extension.
const INVISIBLE = /[\p{Cc}\p{Cf}]/gu;

type Attachment = Record<string, unknown>;
type AttachmentWithData = Attachment & { data: string };

const hasData = (attachment: unknown): attachment is AttachmentWithData =>
  typeof attachment === 'object' && attachment !== null && typeof (attachment as Attachment).data === 'string';

/** The extension worth keeping through a rewrite or truncation: short and alphanumeric. */
const safeExtension = (name: string): string => {
  const extension = extname(name);
  return SAFE_EXTENSION.test(extension) ? extension : '';
};

/** stem + suffix within the byte limit, shortening the stem by whole code points. */
function fitName(stem: string, suffix: string): string {
  const budget = MAX_NAME_BYTES - Buffer.byteLength(suffix);
  let kept = '';
  let bytes = 0;
  for (const char of stem) {
    bytes += Buffer.byteLength(char);
    if (bytes > budget) break;
    kept += char;
  }
  return kept + suffix;
}

/**
 * A name that is one plain file name: NFKC-normalized first (so fullwidth dots and
 * slashes become the real ones before they are checked), the last segment after "/" or
 * "\", without invisible characters. Empty, "." or ".." or hidden names become
 * `attachment-<index>` (keeping a safe extension); at most 200 bytes of UTF-8.
 */
export function sanitizeAttachmentName(name: unknown, index: number): string {
  const raw = typeof name === 'string' ? name : '';
  const lastSegment = raw.normalize('NFKC').split(/[/\\]/).pop() ?? '';
  const cleaned = lastSegment.replace(INVISIBLE, '').trim();
  const safe = cleaned === '' || cleaned.startsWith('.') ? `attachment-${index}${safeExtension(cleaned)}` : cleaned;
  if (Buffer.byteLength(safe) <= MAX_NAME_BYTES) return safe;
  const extension = safeExtension(safe);
  return fitName(safe.slice(0, safe.length - extension.length), extension);
}

/** name, or name-2, name-3 … (before the extension) when an earlier attachment took it. */
function claimName(name: string, taken: Set<string>): string {
  const extension = safeExtension(name);
  const stem = name.slice(0, name.length - extension.length);
  let candidate = name;
  // Case-insensitively: on a case-insensitive file system A.txt and a.txt are one file.
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = fitName(stem, `-${n}${extension}`);
  taken.add(candidate.toLowerCase());
  return candidate;
}

/**
 * Saves the attachments that carry data and returns new content where each has
 * `localPath` instead of `data`; the input is never changed. Names are derived only from
 * the message, so a replay writes the same files (or nothing, when they are already
 * there). The session folder must exist. Throws UnsafePathError if inbox/<messageId>
 * cannot be made a real folder inside it.
 */
export function saveAttachments(sessionDir: string, messageId: string, content: MessageContent): MessageContent {
  const attachments = content.attachments;
  if (!Array.isArray(attachments) || !attachments.some(hasData)) return content;
  const inbox = ensureConfinedDir(sessionDir, 'inbox', messageId);
  const realInbox = realpathSync(inbox);
  const taken = new Set<string>();
  const saved = attachments.map((attachment: unknown, index) => {
    if (!hasData(attachment)) return attachment;
    const name = claimName(sanitizeAttachmentName(attachment.name, index), taken);
    const path = join(inbox, name);
    writeFileAtomic(path, Buffer.from(attachment.data, 'base64'));
    // The folder was checked before writing; this catches it being swapped meanwhile.
    if (dirname(realpathSync(path)) !== realInbox) throw new UnsafePathError(`attachment ${path} resolves outside ${realInbox}`);
    const { data: _data, ...rest } = attachment;
    return { ...rest, localPath: `inbox/${messageId}/${name}` };
  });
  return { ...content, attachments: saved };
}
