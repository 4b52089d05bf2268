// The widget endpoint read by the Vercel AI SDK itself: the DefaultChatTransport that
// useChat uses (it validates every chunk against the SDK's UI message chunk schema), then
// readUIMessageStream with terminateOnError, so a malformed or broken stream fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DefaultChatTransport,
  parseJsonEventStream,
  readUIMessageStream,
  uiMessageChunkSchema,
} from 'ai';

const url = process.env.AGENTGATE_WIDGET_URL;
const bot = process.env.AGENTGATE_WIDGET_BOT;
const brokenBot = process.env.AGENTGATE_BROKEN_WIDGET_BOT;
const expected = process.env.AGENTGATE_EXPECTED_TEXT;

function transport(botPublicId, visitorId, conversationId) {
  return new DefaultChatTransport({
    api: url,
    headers: { 'x-widget-version': '2' },
    prepareSendMessagesRequest: ({ body, messages }) => ({
      body: {
        ...body,
        botPublicId,
        visitorId,
        conversationId,
        message: messages.at(-1).parts.find((p) => p.type === 'text').text,
        hostPageUrl: 'https://docs.example.com/getting-started',
      },
    }),
  });
}

async function turn(botPublicId, visitorId, conversationId, text) {
  const stream = await transport(botPublicId, visitorId, conversationId).sendMessages({
    chatId: 'chat-1',
    messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text }] }],
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal: undefined,
  });
  let last;
  for await (const message of readUIMessageStream({ stream, terminateOnError: true })) {
    last = message;
  }
  return last;
}

test('useChat transport reads the reply and the data-done part', async () => {
  const message = await turn(bot, 'visitor-1', null, 'How do I install the widget?');
  assert.equal(message.role, 'assistant');
  const text = message.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');
  assert.equal(text, expected);
  const done = message.parts.find((p) => p.type === 'data-done');
  assert.ok(done, JSON.stringify(message.parts));
  assert.match(done.data.conversationId, /^[0-9a-f-]{36}$/);
  assert.equal(typeof done.data.messageId, 'string');

  const next = await turn(bot, 'visitor-1', done.data.conversationId, 'And then?');
  const nextDone = next.parts.find((p) => p.type === 'data-done');
  assert.equal(nextDone.data.conversationId, done.data.conversationId);
});

test('every chunk of a raw fetch passes the SDK schema', async () => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-widget-version': '2' },
    body: JSON.stringify({ botPublicId: bot, visitorId: 'visitor-2', conversationId: null, message: 'Hi' }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const types = [];
  for await (const part of parseJsonEventStream({ stream: res.body, schema: uiMessageChunkSchema })) {
    assert.ok(part.success, JSON.stringify(part));
    types.push(part.value.type);
  }
  assert.deepEqual(types.slice(0, 1), ['text-start']);
  assert.deepEqual(types.slice(-2), ['text-end', 'data-done']);
});

test('a reply the upstream breaks off ends the stream with an error', async () => {
  await assert.rejects(turn(brokenBot, 'visitor-3', null, 'Hi'), (err) => {
    assert.ok(String(err.message ?? err).length > 0);
    return true;
  });
});

test('an unknown bot is refused before any stream', async () => {
  await assert.rejects(
    turn('00000000-0000-4000-8000-000000000000', 'visitor-4', null, 'Hi'),
    /NOT_FOUND/,
  );
});
