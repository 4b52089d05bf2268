// The widget beyond text, from the outside. First the Vercel AI SDK's own parser reads a
// reply that carries text, an action proposal and citations (every chunk validated
// against its strict UI message chunk schema). Then a real headless Chromium (Debian's,
// driven by playwright-core) opens a host page on one origin that embeds the launcher
// from the server on another, chats, sees the reply stream in with its sources, confirms
// the action card, reloads and finds the conversation kept.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from 'ai';
import { chromium } from 'playwright-core';

const api = process.env.AGENTGATE_BASE_URL;
const bot = process.env.AGENTGATE_LAUNCHER_BOT;
const expected = process.env.AGENTGATE_EXPECTED_TEXT;
const welcome = process.env.AGENTGATE_WELCOME;
const shots = process.env.AGENTGATE_SCREENSHOTS;
const executablePath = process.env.AGENTGATE_CHROMIUM || '/usr/bin/chromium';

test('the AI SDK reads text, an action proposal and citations from one reply', async () => {
  const res = await fetch(`${api}/v1/public/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-widget-version': '2' },
    body: JSON.stringify({ botPublicId: bot, visitorId: 'sdk-visitor', conversationId: null, message: 'How long do refunds take?' }),
  });
  assert.equal(res.status, 200);
  const seen = [];
  const chunks = parseJsonEventStream({ stream: res.body, schema: uiMessageChunkSchema }).pipeThrough(
    new TransformStream({
      transform(parsed, controller) {
        if (!parsed.success) throw parsed.error;
        seen.push(parsed.value);
        controller.enqueue(parsed.value);
      },
    }),
  );
  let last;
  for await (const message of readUIMessageStream({ stream: chunks, terminateOnError: true })) last = message;
  const text = last.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');
  assert.equal(text, expected);
  const proposal = last.parts.find((p) => p.type === 'data-action-proposal');
  assert.ok(proposal, `parts: ${JSON.stringify(last.parts)}`);
  assert.match(proposal.id, /^exe_[0-9a-f]{32}$/);
  assert.equal(proposal.data.actionId, 'book_demo');
  assert.deepEqual(proposal.data.params, { day: 'tue' });
  const citations = last.parts.find((p) => p.type === 'data-citations');
  assert.equal(citations.data[0].title, 'Help centre');
  const done = seen.find((c) => c.type === 'data-done');
  assert.ok(done.data.confidence > 0 && done.data.confidence <= 1, `confidence ${done.data.confidence}`);
});

let browser;
let host;
after(async () => {
  if (browser) await browser.close();
  if (host) host.close();
});

// The site that embeds the widget: another origin than the API's.
async function hostPage() {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>The shop</h1><p>Welcome to our shop.</p>
<script src="${api}/v1/public/widget.js" data-bot-id="${bot}" async></script></body></html>`;
  host = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise((ok) => host.listen(0, 'localhost', ok));
  return `http://localhost:${host.address().port}/`;
}

test('a visitor chats through the launcher on another site, confirms an action and keeps the conversation', async () => {
  const site = await hostPage();
  assert.notEqual(new URL(site).origin, new URL(api).origin);
  browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const actions = [];
  await page.exposeFunction('recordAction', (detail) => actions.push(detail));
  await page.addInitScript(() => window.addEventListener('agentgate:action', (e) => window.recordAction(e.detail)));
  await page.goto(site);

  // The bubble is a labelled button; the panel opens with the bot's welcome message.
  const bubble = page.getByRole('button', { name: 'Open chat' });
  await bubble.focus();
  await page.keyboard.press('Enter');
  await page.getByText(welcome).waitFor();
  const input = page.getByLabel('Message');
  await input.fill('How long do refunds take?');
  await page.keyboard.press('Enter');

  // The reply streams in, with its source and an action card.
  await page.locator('li.assistant', { hasText: expected }).waitFor();
  await page.getByRole('list', { name: 'Sources' }).getByText('[1] Help centre').waitFor();
  const confirm = page.getByRole('button', { name: 'Confirm: Book a demo' });
  await confirm.waitFor();
  if (shots) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'widget-launcher.png') });
  }
  await confirm.click();
  await page.locator('li.card').getByText('Done').waitFor();
  assert.equal(actions.length, 1);
  assert.equal(actions[0].actionId, 'book_demo');

  // After a reload the conversation is still there and continues.
  await page.reload();
  await page.getByRole('button', { name: 'Open chat' }).click();
  await page.getByText('How long do refunds take?').waitFor();
  await page.locator('li.card').getByText('Done').waitFor();
  assert.equal(await page.getByText(welcome).count(), 0, 'no welcome over a kept conversation');
  await page.getByLabel('Message').fill('Thanks, and after that?');
  await page.keyboard.press('Enter');
  await page.locator('li.assistant', { hasText: expected }).nth(1).waitFor();
  if (shots) await page.screenshot({ path: join(shots, 'widget-launcher-reloaded.png') });
  assert.deepEqual(errors, []);
});

test('refusals are neutral notices in the panel', async () => {
  const site = host ? `http://localhost:${host.address().port}/` : await hostPage();
  browser ||= await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
  const page = await (await browser.newContext()).newPage();
  let status = 429;
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type, x-widget-version' };
  await page.route('**/v1/public/chat', (route) =>
    route.request().method() === 'OPTIONS'
      ? route.fulfill({ status: 204, headers: cors })
      : route.fulfill({ status, contentType: 'application/json', headers: { ...cors, 'retry-after': '60' },
          body: JSON.stringify({ error: { code: status === 429 ? 'RATE_LIMITED' : 'PLAN_LIMIT_REACHED', message: 'no' } }) }));
  await page.goto(site);
  await page.getByRole('button', { name: 'Open chat' }).click();
  await page.getByLabel('Message').fill('Hello?');
  await page.keyboard.press('Enter');
  await page.getByRole('status').getByText('Too many messages for now').waitFor();
  status = 402;
  await page.getByLabel('Message').fill('Hello again?');
  await page.keyboard.press('Enter');
  await page.getByRole('status').getByText('The assistant is unavailable right now.').waitFor();
  // Escape closes the panel and gives the focus back to the bubble.
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'Open chat' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-agentgate-widget') !== null), true);
});
