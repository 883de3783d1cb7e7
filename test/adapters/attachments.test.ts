import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { saveAttachments, sanitizeAttachmentName } from '../../src/adapters/attachments';
import { initSessionFolder, UnsafePathError } from '../../src/adapters/session-db';
import { useTempDir } from '../support/temp';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Every non-folder entry under root, symlinks included and never followed. */
function walk(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((entry) => {
    const path = join(root, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

describe('saveAttachments', () => {
  const tempDir = useTempDir();
  let session: string;
  let outside: string;

  beforeEach(() => {
    outside = join(tempDir(), 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim.txt'), 'original');
    session = join(tempDir(), 'data', 'sessions', 'ag-x', 'sess-1');
    initSessionFolder(session);
  });

  const hostile: [name: unknown, saved: string][] = [
    ['../x', 'x'],
    ['a/b', 'b'],
    ['..', 'attachment-2'],
    ['/etc/passwd', 'passwd'],
    ['C:\\evil\\x.txt', 'x.txt'],
    ['ev\u0000il.txt', 'evil.txt'],
    ['a'.repeat(5000) + '.txt', 'a'.repeat(196) + '.txt'],
    ['\uFF0E\uFF0E/x', 'x-2'], // fullwidth dots: NFKC makes them "../x"
    ['\u2025', 'attachment-8'], // two dot leader: NFKC makes it ".."
    ['.bashrc', 'attachment-9'],
    ['a\uFF0Fb', 'b-2'], // fullwidth solidus
    ['\u2025\uFF0Fpasswd', 'passwd-2'],
    ['.hidden.pdf', 'attachment-12.pdf'],
    ['é'.repeat(3000), 'é'.repeat(100)], // 2 bytes each: cut at 200 bytes, never inside a character
    ['\u202Egpj.exe', 'gpj.exe'], // a right-to-left override would show it as "exe.jpg"
    ['   ', 'attachment-15'],
    [undefined, 'attachment-16'],
    ['X', 'X-3'], // one file with "x" on a case-insensitive file system
  ];

  it('saves every hostile name inside inbox/<id>/, rewritten, and writes nothing outside the session folder', () => {
    const content = { text: 'files', attachments: hostile.map(([name], i) => ({ name, data: b64(`file ${i}`), size: 6, mimeType: 'text/plain' })) };
    const saved = saveAttachments(session, 'msg-1', content);

    const attachments = saved.attachments as Record<string, unknown>[];
    expect(attachments.map((a) => a.localPath)).toEqual(hostile.map(([, name]) => `inbox/msg-1/${name}`));
    attachments.forEach((attachment, i) => {
      expect(attachment).not.toHaveProperty('data');
      expect(attachment).toMatchObject({ name: hostile[i]![0], size: 6, mimeType: 'text/plain' });
      expect(readFileSync(join(session, attachment.localPath as string), 'utf8')).toBe(`file ${i}`);
    });
    for (const [, name] of hostile) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(200);

    const inbox = join(session, 'inbox', 'msg-1');
    const outsideInbox = walk(tempDir()).filter((path) => !path.startsWith(inbox + sep));
    expect(outsideInbox.map((path) => relative(tempDir(), path)).sort()).toEqual(
      [join('outside', 'victim.txt'), ...['inbound.db', 'outbound.db'].map((file) => relative(tempDir(), join(session, file)))].sort(),
    );
    expect(readdirSync(inbox).sort()).toEqual(hostile.map(([, name]) => name).sort());
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('original');
  });

  it('replaces a symlink planted at the target name instead of following it', () => {
    const inbox = join(session, 'inbox', 'msg-2');
    mkdirSync(inbox);
    symlinkSync(join(outside, 'victim.txt'), join(inbox, 'photo.jpg'));
    symlinkSync(join(outside, 'created.txt'), join(inbox, 'dangling.txt'));

    saveAttachments(session, 'msg-2', { attachments: [{ name: 'photo.jpg', data: b64('jpeg') }, { name: 'dangling.txt', data: b64('text') }] });

    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('original');
    expect(readdirSync(outside)).toEqual(['victim.txt']);
    for (const [name, body] of [['photo.jpg', 'jpeg'], ['dangling.txt', 'text']] as const) {
      expect(lstatSync(join(inbox, name)).isFile()).toBe(true);
      expect(readFileSync(join(inbox, name), 'utf8')).toBe(body);
    }
  });

  it('refuses an inbox or message folder that is a symlink, writing nothing through it', () => {
    symlinkSync(outside, join(session, 'inbox', 'msg-3'));
    expect(() => saveAttachments(session, 'msg-3', { attachments: [{ name: 'x.txt', data: b64('x') }] })).toThrow(UnsafePathError);

    const other = join(tempDir(), 'data', 'sessions', 'ag-x', 'sess-2');
    mkdirSync(other, { recursive: true });
    symlinkSync(outside, join(other, 'inbox'));
    expect(() => saveAttachments(other, 'msg-4', { attachments: [{ name: 'x.txt', data: b64('x') }] })).toThrow(UnsafePathError);

    expect(readdirSync(outside)).toEqual(['victim.txt']);
  });

  it('refuses a message id that is not one plain folder name', () => {
    for (const messageId of ['../msg', '..', 'a/b', '.msg']) {
      expect(() => saveAttachments(session, messageId, { attachments: [{ name: 'x', data: b64('x') }] })).toThrow(UnsafePathError);
    }
    expect(walk(session).map((path) => relative(session, path)).sort()).toEqual(['inbound.db', 'outbound.db']);
  });

  it('is idempotent on replay: same files, same names, nothing rewritten', () => {
    const content = deepFreeze({ attachments: [{ name: 'a.txt', data: b64('one') }, { name: 'a.txt', data: b64('two') }] });
    const before = structuredClone(content);
    const first = saveAttachments(session, 'msg-5', content);
    const inbox = join(session, 'inbox', 'msg-5');
    const inodes = () => readdirSync(inbox).sort().map((name) => [name, statSync(join(inbox, name)).ino]);
    const afterFirst = inodes();

    const second = saveAttachments(session, 'msg-5', content);

    expect(second).toEqual(first);
    expect(inodes()).toEqual(afterFirst);
    expect(afterFirst.map(([name]) => name)).toEqual(['a-2.txt', 'a.txt']);
    expect(content).toEqual(before);
  });

  it('passes content and attachments without data through untouched', () => {
    const plain = { text: 'no files' };
    expect(saveAttachments(session, 'msg-6', plain)).toBe(plain);
    const linkOnly = { attachments: [{ name: 'remote.png', url: 'https://example.com/remote.png' }] };
    expect(saveAttachments(session, 'msg-6', linkOnly)).toBe(linkOnly);

    const mixed = { attachments: [linkOnly.attachments[0], { name: 'local.png', data: b64('png') }, 'not an object'] };
    const saved = saveAttachments(session, 'msg-6', mixed).attachments as unknown[];
    expect(saved[0]).toBe(linkOnly.attachments[0]);
    expect(saved[1]).toEqual({ name: 'local.png', localPath: 'inbox/msg-6/local.png' });
    expect(saved[2]).toBe('not an object');
  });

  it('sanitizeAttachmentName keeps plain names as they are', () => {
    expect(sanitizeAttachmentName('Quarterly report (final).pdf', 0)).toBe('Quarterly report (final).pdf');
    expect(sanitizeAttachmentName('фото.jpg', 0)).toBe('фото.jpg');
  });
});
