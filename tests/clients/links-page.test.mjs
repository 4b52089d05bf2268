// Public links from the outside: the chat stream read by the Vercel AI SDK's own parser
// (every chunk validated against its UI message chunk schema, a broken stream failing),
// then the chat page in a real headless Chromium (Debian's, driven by playwright-core):
// welcome message, a streamed reply with status labels, the history after a reload, a new
// conversation, and the email-and-code step with the code read from the local outbox.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from 'ai';
import { chromium } from 'playwright-core';

const base = process.env.AGENTGATE_BASE_URL;
const linkToken = process.env.AGENTGATE_LINK_TOKEN;
const emailLinkToken = process.env.AGENTGATE_EMAIL_LINK_TOKEN;
const outbox = process.env.AGENTGATE_OUTBOX;
const expected = process.env.AGENTGATE_EXPECTED_TEXT;
const welcome = process.env.AGENTGATE_WELCOME;
const shots = process.env.AGENTGATE_SCREENSHOTS;
const executablePath = process.env.AGENTGATE_CHROMIUM || '/usr/bin/chromium';

async function json(method, path, body, bearer) {
  const headers = { 'content-type': 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

test('the chat stream is a valid UI message stream for the AI SDK', async () => {
  const session = await json('POST', `/api/public/sessions/${linkToken}`, {});
  assert.equal(session.status, 201);
  const res = await fetch(`${base}/api/public/chat/${linkToken}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${session.body.session_token}` },
    body: JSON.stringify({ message: 'Hello?' }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
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
  const labels = seen.filter((c) => c.type === 'data-status').map((c) => c.data.label);
  assert.deepEqual(labels, ['Thinking', 'Writing']);
  assert.ok(seen.every((c) => c.type !== 'data-status' || c.transient === true));
  const done = seen.find((c) => c.type === 'data-done');
  assert.equal(done.data.conversationId, session.body.conversation_id);
  // Transient parts are not kept in the message.
  assert.ok(last.parts.every((p) => p.type !== 'data-status'));
});

let browser;
after(async () => browser && browser.close());

async function open(token) {
  browser ||= await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-background-networking'],
  });
  const context = await browser.newContext({ viewport: { width: 390, height: 780 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // A refused request (a wrong code, say) is logged by the browser; that is not a page error.
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
  const labels = [];
  await page.exposeFunction('recordStatus', (label) => labels.push(label));
  await page.addInitScript(() => {
    window.addEventListener('DOMContentLoaded', () => {
      const status = document.getElementById('status');
      new MutationObserver(() => status.textContent && window.recordStatus(status.textContent)).observe(status, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  });
  const response = await page.goto(`${base}/public/chat/${token}`);
  return { page, errors, labels, response };
}

async function send(page, text) {
  const before = await page.locator('.msg.assistant').count();
  await page.getByLabel('Message').fill(text);
  await page.keyboard.press('Enter');
  const reply = page.locator('.msg.assistant').nth(before);
  await reply.waitFor();
  await page.waitForFunction(() => document.getElementById('status').textContent === '' && !document.getElementById('send').disabled);
  return (await reply.textContent()).replace(/^Assistant said: /, '');
}

test('a visitor chats in the browser, reloads, and starts a new conversation', async () => {
  const { page, errors, labels, response } = await open(linkToken);
  assert.equal(response.status(), 200);
  assert.equal(response.headers()['referrer-policy'], 'no-referrer');
  await page.getByText(welcome).waitFor();
  assert.equal(await page.title(), 'oracle');

  assert.equal(await send(page, 'Hi from the browser'), expected);
  assert.ok(labels.includes('Thinking') || labels.includes('Writing'), `labels seen: ${labels}`);
  await page.getByText('Hi from the browser').waitFor();

  await page.reload();
  await page.getByText('Hi from the browser').waitFor();
  assert.equal(await page.locator('.msg.user').count(), 1, 'the history came back after the reload');
  assert.equal(await page.locator('.msg.assistant:not(.welcome)').count(), 1);
  if (shots) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'public-link-chat.png'), fullPage: true });
  }

  await page.getByRole('button', { name: 'New conversation' }).click();
  await page.waitForFunction(() => document.querySelectorAll('.msg.user').length === 0);
  await page.getByText(welcome).waitFor();
  assert.equal(await send(page, 'A fresh start'), expected);
  await page.reload();
  await page.getByText('A fresh start').waitFor();
  assert.equal(await page.getByText('Hi from the browser').count(), 0, 'the new conversation is the one shown');
  assert.deepEqual(errors, []);
});

test('an email link asks for the address and the emailed code before the chat', async () => {
  const { page, errors } = await open(emailLinkToken);
  await page.getByLabel('Your email address').fill('visitor@example.com');
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByLabel('The code we emailed you').waitFor();
  const files = readdirSync(outbox).sort();
  const mail = JSON.parse(readFileSync(join(outbox, files.at(-1)), 'utf8'));
  assert.equal(mail.to, 'visitor@example.com');
  const code = mail.text.match(/\b(\d{6})\b/)[1];

  await page.getByLabel('The code we emailed you').fill('000000' === code ? '111111' : '000000');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('alert').getByText('The code is wrong or has expired.').waitFor();

  await page.getByLabel('The code we emailed you').fill(code);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByLabel('Message').waitFor();
  await page.getByText(welcome).waitFor();
  assert.equal(await send(page, 'Verified hello'), expected);
  if (shots) await page.screenshot({ path: join(shots, 'public-link-email.png'), fullPage: true });
  await page.reload();
  await page.getByText('Verified hello').waitFor();
  assert.deepEqual(errors, []);
});

test('an unknown link shows its own notice, not a blank page', async () => {
  const { page, response } = await open('agp_unknown0000000000000000000000');
  assert.equal(response.status(), 404);
  await page.getByRole('alert').getByText('This link does not exist.').waitFor();
});
