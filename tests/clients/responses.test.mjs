// The Responses API through the JavaScript clients that call it by default: the official
// `openai` Node SDK, the Vercel AI SDK's default OpenAI provider and the OpenAI Agents SDK.
// Started by local/tests/clients.rs with the server's address in the environment; it checks
// afterwards what the mock upstream received for the two-turn conversation below.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { Agent, OpenAIProvider, Runner, setTracingDisabled } from '@openai/agents';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
};
const baseURL = env('AGENTGATE_OPENAI_BASE_URL');
const apiKey = env('AGENTGATE_TOKEN');
const brokenKey = env('AGENTGATE_BROKEN_TOKEN');
const expected = env('AGENTGATE_EXPECTED_TEXT');
const firstTurn = env('AGENTGATE_FIRST_TURN');
const secondTurn = env('AGENTGATE_SECOND_TURN');

const sdk = (key = apiKey) => new OpenAI({ baseURL, apiKey: key, maxRetries: 0 });

test('openai Node SDK: responses.stream().finalResponse()', async () => {
  const stream = sdk().responses.stream({ model: 'gpt-4o', input: 'Hello from Node', user: 'node-sdk' });
  let streamed = '';
  stream.on('response.output_text.delta', (e) => {
    streamed += e.delta;
  });
  const final = await stream.finalResponse();
  assert.equal(streamed, expected);
  assert.equal(final.output_text, expected);
  assert.equal(final.status, 'completed');
  assert.ok(final.usage.output_tokens > 0);
});

test('openai Node SDK: a mid-stream upstream failure rejects', async () => {
  const stream = sdk(brokenKey).responses.stream({ model: 'gpt-4o', input: 'break' });
  await assert.rejects(stream.finalResponse(), (err) => err instanceof OpenAI.APIError);
});

// The AI SDK's default provider calls the Responses API (only `.chat(id)` uses chat
// completions). The bodies it sends are kept to check the second turn's item_reference.
const sent = [];
const recordingFetch = async (url, init) => {
  if (init?.body) sent.push(JSON.parse(init.body));
  return fetch(url, init);
};
const provider = createOpenAI({ baseURL, apiKey, fetch: recordingFetch });

test('AI SDK default provider: streamText', async () => {
  const errors = [];
  const result = streamText({
    model: provider('support-bot'),
    prompt: 'Hello from the AI SDK',
    maxRetries: 0,
    onError: ({ error }) => errors.push(error),
  });
  let streamed = '';
  for await (const delta of result.textStream) streamed += delta;
  assert.deepEqual(errors, []);
  assert.equal(streamed, expected);
  assert.equal(await result.finishReason, 'stop');
  assert.ok((await result.usage).outputTokens > 0);
});

test('AI SDK default provider: a second turn refers to the first reply by item_reference', async () => {
  const model = provider('support-bot');
  const messages = [{ role: 'user', content: firstTurn }];
  const first = await generateText({ model, messages, maxRetries: 0 });
  assert.equal(first.text, expected);
  messages.push(...first.response.messages, { role: 'user', content: secondTurn });
  sent.length = 0;
  const second = await generateText({ model, messages, maxRetries: 0 });
  assert.equal(second.text, expected);
  const refs = sent[0].input.filter((item) => item.type === 'item_reference');
  assert.equal(refs.length, 1, JSON.stringify(sent[0].input));
  assert.match(refs[0].id, /^msg_/);
});

test('AI SDK default provider: a mid-stream upstream failure is an error', async () => {
  const broken = createOpenAI({ baseURL, apiKey: brokenKey })('support-bot');
  const errors = [];
  const result = streamText({ model: broken, prompt: 'break', maxRetries: 0, onError: ({ error }) => errors.push(error) });
  const parts = [];
  for await (const part of result.fullStream) parts.push(part);
  assert.ok(parts.some((p) => p.type === 'error'), JSON.stringify(parts.map((p) => p.type)));
  assert.equal(errors.length, 1);
});

// Each Agents SDK test gets its own runner and provider, so no client is cached across them.
const runner = (key) => new Runner({ modelProvider: new OpenAIProvider({ openAIClient: sdk(key) }) });
const agent = new Agent({ name: 'Support', instructions: 'Answer briefly.' });
setTracingDisabled(true);

test('OpenAI Agents SDK: one agent turn, plain and streamed', async () => {
  const result = await runner(apiKey).run(agent, 'Hello from an agent');
  assert.equal(result.finalOutput, expected);

  const streamed = await runner(apiKey).run(agent, 'Hello again', { stream: true });
  let text = '';
  for await (const chunk of streamed.toTextStream()) text += chunk;
  await streamed.completed;
  assert.equal(text, expected);
  assert.equal(streamed.finalOutput, expected);
});

test('OpenAI Agents SDK: an upstream failure rejects the run, plain and streamed', async () => {
  await assert.rejects(runner(brokenKey).run(agent, 'break'));
  const streamed = await runner(brokenKey).run(agent, 'break', { stream: true });
  await assert.rejects(async () => {
    for await (const _ of streamed.toTextStream()) {
      // drain
    }
    await streamed.completed;
    if (streamed.error) throw streamed.error;
  });
});
