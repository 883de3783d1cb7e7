import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ConsoleServer } from '../../src/adapters/console/server';
import { receiveInbound } from '../../src/commands/inbound';
import type { Core } from '../../src/core';
import { ApprovalDecided } from '../../src/events/admin';
import { addRestartsAndLoop, openConsoleScene } from '../support/console-scene';
import { useTempDir } from '../support/temp';

const CHROMIUM = '/usr/bin/chromium';
const describeInBrowser = (name: string, body: () => void) => {
  if (existsSync(CHROMIUM)) return describe(name, body);
  console.warn(`web console browser tests SKIPPED: no ${CHROMIUM} (.ci/run installs Debian's chromium)`);
  describe.skip(name, body);
};

describeInBrowser('the web console in headless Chromium', () => {
  const dir = useTempDir('switchyard-console-browser-');
  let browser: Browser;
  let core: Core;
  let server: ConsoleServer;
  let page: Page;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    core = openConsoleScene(join(dir(), 'data'));
    server = new ConsoleServer(core, { port: 0, writable: true, actor: 'operator:carol' });
    await server.start();
    page = await browser.newPage();
  });
  afterEach(async () => {
    await page.close();
    await server.stop();
    core.close();
  });

  const open = async (hash: string) => {
    await page.goto(`${server.url()}#${hash}`);
    await page.waitForSelector(`body[data-page="${hash.split('/')[0]}"]`);
  };
  /** A screenshot of the page in the test's temp dir, and the text the page shows. */
  const shot = async (name: string) => {
    const file = join(dir(), `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(0);
    return page.innerText('main');
  };

  it('Live shows a decision dispatched after the page loaded', async () => {
    await open('live');
    await page.waitForSelector('#live-status:has-text("listening")');
    core.bus.dispatch(receiveInbound({ channelType: 'discord', platformId: 'D9', messageId: '70', content: { text: 'is anyone there?' }, timestamp: '2026-11-24T11:00:00.000Z' }));
    await page.waitForSelector('#live-rows tr:has-text("is anyone there?")');
    const text = await shot('live');
    expect(text).toMatch(/inbound\s+dropped\s+no-agent-wired/);
  });

  it('Explain shows the story as a timeline with the ACL at the decision and today', async () => {
    await open('explain/out-1');
    await page.waitForSelector('.explanation');
    const text = await shot('explain');
    expect(text).toContain('outbound message out-1 delivered');
    expect(text).toContain('pasta at 7');
    expect(text).toMatch(/OutboundRouted .*routed by destination/);
    expect(text).toContain('delivered (platform id tg-77)');
    expect(text).toMatch(/ACL as of #\d+/);
    expect(text).toContain('ACL of ag-andy today');
  });

  it('ACL shows the revoked row, and at an old position the row as it stood then', async () => {
    await open('acl');
    await page.selectOption('#acl-form select[name=agentGroup]', 'ag-andy');
    const revoked = page.locator('#acl-rows tr.revoked', { hasText: 'research-bot' });
    await revoked.waitFor();
    expect(await shot('acl-today')).toMatch(/research-bot\s+agent\s+ag-research\s+#\d+ by operator:alice\s+#\d+ by operator:alice/);
    const revokedAt = Number(/#(\d+) by operator:alice$/.exec((await revoked.innerText()).trim())![1]);
    await page.fill('#acl-form input[name=at]', String(revokedAt - 1));
    await page.waitForSelector(`#acl-at:has-text("#${revokedAt - 1} of")`);
    await page.locator('#acl-rows tr.granted', { hasText: 'research-bot' }).waitFor();
    expect(await shot('acl-before-revocation')).toContain(`#${revokedAt - 1} of #${core.store.lastPosition()}`);
  });

  it('Approvals shows the payload and its hash, and approving records ApprovalDecided by the operator', async () => {
    await open('approvals');
    const card = page.locator('[data-approval="appr-1"]');
    await card.waitFor();
    const before = await shot('approvals');
    expect(before).toContain('Andy asks to install jq');
    expect(before).toContain('"jq"');
    expect(before).toContain(core.views.approvals.get('appr-1')!.payload_hash);
    await card.locator('input[name=reason]').fill('jq is fine');
    await card.locator('button[name=approve]').click();
    await page.waitForSelector('#approvals-status:has-text("approved appr-1 as operator:carol")');
    const [decided] = core.store.readStream('approval-appr-1').filter((e) => ApprovalDecided.is(e));
    expect(decided!.metadata.actor).toBe('operator:carol');
    expect(decided!.data).toMatchObject({ decision: 'approved', reason: 'jq is fine' });
    expect(await shot('approvals-decided')).toContain('approved by operator:carol');
  });

  it('What-if shows the flips a revocation would cause, apart from those the ACL already changed', async () => {
    await open('what-if');
    await page.selectOption('#what-if-form select[name=agentGroup]', 'ag-andy');
    await page.fill('#what-if-form input[name=name]', 'family');
    await page.click('#what-if-form button');
    await page.waitForSelector('#what-if-result .headline');
    const text = await shot('what-if');
    expect(text).toMatch(/Re-judged \d+ decisions in #1\.\.#\d+: 1 would flip because of the change/);
    expect(text).toMatch(/out-1\s+ag-andy\s+routed by "family"\s+dropped: not-permitted\s+change/);
    expect(core.views.destinations.list('ag-andy').map((d) => d.local_name)).toContain('family');
  });

  it('Sessions marks a looping session, and a session shows every incarnation with why it ended', async () => {
    const sessionId = addRestartsAndLoop(core);
    await open('sessions');
    await page.waitForSelector('#sessions-rows tr');
    expect(await shot('sessions-looping')).toMatch(/1 looping in the last hour[\s\S]*loop-limit ×1/);
    await page.click(`#sessions-rows a[href="#sessions/${sessionId}"]`);
    await page.waitForSelector('#session-detail .session');
    const text = await shot('session-incarnations');
    expect(text).toContain('looping: agents answering each other, cut off by the hop limit ×1');
    expect(text).toContain('2 incarnation(s)');
    expect(text).toMatch(/inc-1\s+process\s+builtin\s+inbound\s+\S+\s+crashed at \S+\s+exit 1\s+boom/);
    expect(text).toMatch(/inc-2\s+process\s+builtin\s+inbound\s+\S+\s+running/);
  });

  it('Sessions shows each session with its status and container', async () => {
    await open('sessions');
    await page.waitForSelector('#sessions-rows tr');
    const text = await shot('sessions');
    expect(text).toMatch(/3 session\(s\), 0 quarantined/);
    expect(text).toMatch(/ag-andy\s+mg-family\s+active\s+never started/);
  });
});
