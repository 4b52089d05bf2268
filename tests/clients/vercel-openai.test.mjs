// The Vercel AI SDK's OpenAI provider used the way Typebot uses it:
// createOpenAI({ baseURL, apiKey }).chat(model) with generateText and streamText.
// Started by local/tests/clients.rs with the server's address in the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
};
const baseURL = env('AGENTGATE_OPENAI_BASE_URL');
const apiKey = env('AGENTGATE_TOKEN');
const expected = env('AGENTGATE_EXPECTED_TEXT');
const model = createOpenAI({ baseURL, apiKey }).chat('typebot-model');

test('generateText returns the upstream text', async () => {
  const { text, finishReason, usage } = await generateText({
    model,
    system: 'You are a support bot.',
    prompt: 'Hello from Typebot',
    maxRetries: 0,
  });
  assert.equal(text, expected);
  assert.equal(finishReason, 'stop');
  assert.ok(usage.outputTokens > 0);
});

test('streamText streams the upstream text', async () => {
  const errors = [];
  const result = streamText({
    model,
    messages: [
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'earlier reply' },
      { role: 'user', content: 'second' },
    ],
    maxRetries: 0,
    onError: ({ error }) => errors.push(error),
  });
  let streamed = '';
  for await (const delta of result.textStream) streamed += delta;
  assert.deepEqual(errors, []);
  assert.equal(streamed, expected);
  assert.equal(await result.text, expected);
  assert.equal(await result.finishReason, 'stop');
});

test('a wrong key is an API call error with status 401', async () => {
  const bad = createOpenAI({ baseURL, apiKey: 'pubkey_not_a_real_token' }).chat('m');
  await assert.rejects(
    generateText({ model: bad, prompt: 'hi', maxRetries: 0 }),
    (err) => err.statusCode === 401,
  );
});
