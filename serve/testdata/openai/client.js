// Drives r1 serve with the official openai npm client (serve/openai_test.go
// runs it: node client.js BASE_URL). Every check throws on failure; the
// last line printed is a JSON summary the Go test reads.
"use strict";
const assert = require("node:assert/strict");
const { OpenAI } = require("openai");

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "test-key", maxRetries: 0 });
const question = [{ role: "user", content: "What is 20 - 4?" }];

async function main() {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["r1-tiny"]);

  // Not streamed, n > 1: reasoning_content apart from content.
  const plain = await client.chat.completions.create({
    model: "r1-tiny", messages: question, n: 3, seed: 11, temperature: 0.8, max_tokens: 120,
  });
  assert.equal(plain.choices.length, 3);
  let split = 0;
  for (const [i, c] of plain.choices.entries()) {
    assert.equal(c.index, i);
    assert.equal(c.message.role, "assistant");
    assert.equal(typeof c.message.content, "string");
    assert.ok(!c.message.content.includes("</think>"), "content holds </think>: " + c.message.content);
    if (c.message.reasoning_content) split++;
  }
  assert.ok(split > 0, "no choice has reasoning_content");
  assert.ok(plain.usage.completion_tokens_details.reasoning_tokens > 0);
  assert.equal(plain.usage.total_tokens, plain.usage.prompt_tokens + plain.usage.completion_tokens);

  // Streamed, same seed: the deltas add up to the same messages.
  const stream = await client.chat.completions.create({
    model: "r1-tiny", messages: question, n: 3, seed: 11, temperature: 0.8, max_tokens: 120,
    stream: true, stream_options: { include_usage: true },
  });
  const reasoning = ["", "", ""], content = ["", "", ""], finish = [];
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.reasoning_content) reasoning[c.index] += c.delta.reasoning_content;
      if (c.delta.content) content[c.index] += c.delta.content;
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  for (const [i, c] of plain.choices.entries()) {
    assert.equal(reasoning[i], c.message.reasoning_content || "", `choice ${i} reasoning`);
    assert.equal(content[i], c.message.content, `choice ${i} content`);
    assert.equal(finish[i], c.finish_reason, `choice ${i} finish_reason`);
  }
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);

  // Stop strings: the text ends before the stop string, finish_reason stop.
  const stopped = await client.completions.create({
    model: "r1-tiny", prompt: "A conversation between User and Assistant. User: What is 3 + 4?. Assistant:",
    stop: ["</think>"], seed: 3, max_tokens: 100, temperature: 0,
  });
  const text = stopped.choices[0].text;
  assert.ok(!text.includes("</think>"), "stop string in the text: " + text);
  assert.equal(stopped.choices[0].finish_reason, "stop", "finish_reason for text " + JSON.stringify(text));

  const chatStop = await client.chat.completions.create({
    model: "r1-tiny", messages: question, stop: ["="], seed: 5, max_tokens: 100, temperature: 0, stream: true,
  });
  let streamedText = "", chatFinish = null;
  for await (const chunk of chatStop) {
    for (const c of chunk.choices) {
      streamedText += (c.delta.reasoning_content || "") + (c.delta.content || "");
      if (c.finish_reason) chatFinish = c.finish_reason;
    }
  }
  assert.ok(!streamedText.includes("="), "stop string streamed: " + streamedText);
  assert.equal(chatFinish, "stop");

  // Errors arrive as the client's typed errors.
  await assert.rejects(
    client.chat.completions.create({ model: "r1-tiny", messages: question, max_tokens: -1 }),
    (err) => err instanceof OpenAI.BadRequestError && err.status === 400 && err.param === "max_tokens",
  );
  await assert.rejects(
    client.chat.completions.create({ model: "other", messages: question }),
    (err) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
  );

  console.log(JSON.stringify({ ok: true, split, reasoning_tokens: plain.usage.completion_tokens_details.reasoning_tokens, stop_text: text }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
