// The official `openai` npm client against `rustygpt serve`: a real client we
// did not write. Run by tests/integration/test_openai_sdk.c with RG_BASE_URL,
// RG_MODEL and RG_KEY set; exits non-zero with a message on the first
// failed check.
import assert from "node:assert/strict";
import OpenAI from "openai";

const base = process.env.RG_BASE_URL;
const model = process.env.RG_MODEL;
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: process.env.RG_KEY, maxRetries: 0 });
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

check("models.list and models.retrieve", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(model), `models: ${ids}`);
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
  assert.equal(m.object, "model");
  assert.equal(typeof m.created, "number");
  assert.equal(typeof m.owned_by, "string");
});

let greedy;
check("chat completion", async () => {
  const c = await client.chat.completions.create({
    model,
    messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: "Hi" }],
    max_tokens: 16,
    temperature: 0,
  });
  assert.equal(c.object, "chat.completion");
  assert.match(c.id, /^chatcmpl-/);
  assert.equal(c.model, model);
  assert.equal(c.choices.length, 1);
  assert.equal(c.choices[0].message.role, "assistant");
  assert.equal(typeof c.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(c.choices[0].finish_reason));
  assert.ok(c.usage.prompt_tokens > 0);
  assert.ok(c.usage.completion_tokens > 0 && c.usage.completion_tokens <= 16);
  assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + c.usage.completion_tokens);
  greedy = c;
});

check("streamed chat with usage matches the unstreamed answer", async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: "Hi" }],
    max_tokens: 16,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "", usage = null, finish = null, role = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    const ch = chunk.choices[0];
    if (ch?.delta?.role) role = ch.delta.role;
    if (ch?.delta?.content) text += ch.delta.content;
    if (ch?.finish_reason) finish = ch.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks > 2);
  assert.equal(role, "assistant");
  assert.equal(text, greedy.choices[0].message.content);
  assert.equal(finish, greedy.choices[0].finish_reason);
  const counts = ({ prompt_tokens, completion_tokens, total_tokens }) =>
    ({ prompt_tokens, completion_tokens, total_tokens });
  assert.deepEqual(counts(usage), counts(greedy.usage));
  // the same prompt again: all of it but the last token comes from the cache
  assert.equal(usage.prompt_tokens_details.cached_tokens, usage.prompt_tokens - 1);
});

check("the SDK's stream helper (finalChatCompletion)", async () => {
  const runner = client.beta.chat.completions.stream({
    model,
    messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: "Hi" }],
    max_tokens: 16,
    temperature: 0,
  });
  let deltas = "";
  runner.on("content", (d) => (deltas += d));
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, greedy.choices[0].message.content);
  assert.equal(deltas, greedy.choices[0].message.content);
});

check("legacy completions", async () => {
  const c = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
  assert.equal(c.object, "text_completion");
  assert.equal(typeof c.choices[0].text, "string");
  assert.ok(c.usage.completion_tokens <= 8);
});

check("n answers and seeds", async () => {
  const c = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Tell a story" }],
    max_tokens: 12,
    temperature: 1,
    seed: 42,
    n: 2,
  });
  assert.deepEqual(c.choices.map((x) => x.index), [0, 1]);
  const again = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Tell a story" }],
    max_tokens: 12,
    temperature: 1,
    seed: 42,
    n: 2,
  });
  assert.deepEqual(again.choices.map((x) => x.message.content), c.choices.map((x) => x.message.content));
});

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather of a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 16 } },
      required: ["city"],
    },
  },
};

check("tool calls (tool_choice required), plain and streamed", async () => {
  const req = {
    model,
    messages: [{ role: "user", content: "Weather in Oslo?" }],
    max_tokens: 300,
    temperature: 0.7,
    seed: 3,
    tools: [weatherTool],
    tool_choice: "required",
  };
  const c = await client.chat.completions.create(req);
  assert.equal(c.choices[0].finish_reason, "tool_calls");
  const calls = c.choices[0].message.tool_calls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0].type, "function");
  assert.equal(calls[0].function.name, "get_weather");
  assert.equal(typeof JSON.parse(calls[0].function.arguments).city, "string");
  // streamed: the SDK's helper assembles delta.tool_calls into the same call
  const runner = client.beta.chat.completions.stream(req);
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(final.choices[0].message.tool_calls.map((t) => [t.function.name, t.function.arguments]),
    calls.map((t) => [t.function.name, t.function.arguments]));
  // the call's result goes back as a tool message
  const next = await client.chat.completions.create({
    model,
    max_tokens: 4,
    tools: [weatherTool],
    messages: [
      { role: "user", content: "Weather in Oslo?" },
      { role: "assistant", content: null, tool_calls: calls },
      { role: "tool", tool_call_id: calls[0].id, content: "sunny" },
    ],
  });
  assert.equal(next.choices.length, 1);
});

check("structured output (json_schema)", async () => {
  const c = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "A person as JSON" }],
    max_tokens: 300,
    temperature: 0.7,
    seed: 2,
    response_format: {
      type: "json_schema",
      json_schema: {
        name: "person",
        strict: true,
        schema: {
          type: "object",
          properties: { name: { type: "string", maxLength: 10 }, age: { type: "integer" } },
          required: ["name", "age"],
          additionalProperties: false,
        },
      },
    },
  });
  assert.equal(c.choices[0].finish_reason, "stop");
  const doc = JSON.parse(c.choices[0].message.content);
  assert.deepEqual(Object.keys(doc), ["name", "age"]);
  assert.equal(typeof doc.name, "string");
  assert.ok(Number.isInteger(doc.age));
});

check("embeddings, float and the SDK's default base64", async () => {
  const b64 = await client.embeddings.create({ model, input: ["hello", "world"] });
  assert.equal(b64.object, "list");
  assert.equal(b64.data.length, 2);
  assert.deepEqual(b64.data.map((d) => d.index), [0, 1]);
  const f = await client.embeddings.create({ model, input: "hello", encoding_format: "float" });
  const a = b64.data[0].embedding, b = f.data[0].embedding;
  assert.ok(a.length > 0);
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-6, `dim ${i}: ${a[i]} vs ${b[i]}`);
  assert.ok(b64.usage.prompt_tokens > 0);
});

check("errors arrive as the SDK's typed errors", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404,
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], temperature: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "temperature",
  );
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: "user", content: "x" }], response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "strng" } } } }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "response_format",
  );
  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: "wrong-key", maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

check("leaving a stream early frees the server's slot", async () => {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Tell a long story" }],
    max_tokens: 2000,
    stream: true,
  });
  let n = 0;
  for await (const _ of stream) if (++n === 3) break; // the SDK aborts the request
  assert.equal(n, 3);
  let busy = -1;
  for (let i = 0; i < 100 && busy !== 0; i++) {
    // /status follows /v1's rule: with --api-key it needs the key too
    const st = await (await fetch(`${base}/status`, { headers: { Authorization: `Bearer ${process.env.RG_KEY}` } })).json();
    busy = st.slots.busy;
    if (busy !== 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(busy, 0, "a slot is still busy after the client left");
  const c = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }], max_tokens: 2 });
  assert.equal(c.choices.length, 1);
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}
console.log(`${checks.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
