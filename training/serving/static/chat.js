// The chat page: keeps the conversation here and streams each reply from /v1/chat/completions.
// Model text only ever goes into textContent, never into markup.
"use strict";
const $ = (id) => document.getElementById(id);
let model = null;
let history = [];

function headers() {
  const h = { "Content-Type": "application/json" };
  if ($("key").value) h.Authorization = "Bearer " + $("key").value;
  return h;
}

function bubble(role, text) {
  const li = document.createElement("li");
  li.className = role;
  li.textContent = text;
  $("log").appendChild(li);
  return li;
}

async function errorText(response) {
  try { return (await response.json()).error.message; } catch { return "HTTP " + response.status; }
}

async function loadModel() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) throw new Error(await errorText(response));
  model = (await response.json()).data[0].id;
  $("model").textContent = model;
}

// Reads server-sent events and appends each content delta to `target`; returns the whole reply.
async function streamInto(response, target) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", reply = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return reply;
    buffer += decoder.decode(value, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop();
    for (const event of events) {
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") return reply;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      const piece = chunk.choices.length ? chunk.choices[0].delta.content || "" : "";
      reply += piece;
      target.textContent = reply;
    }
  }
}

async function send(text) {
  if (!model) await loadModel();
  history.push({ role: "user", content: text });
  const target = bubble("assistant", "…");
  target.dataset.state = "pending";
  const request = { model, messages: history, stream: true, platform: $("platform").value,
                    temperature: Number($("temperature").value) };
  if ($("seed").value !== "") request.seed = Number($("seed").value);
  if ($("memory").value !== "") request.memory = Number($("memory").value);
  try {
    const response = await fetch("/v1/chat/completions", { method: "POST", headers: headers(),
                                                            body: JSON.stringify(request) });
    if (!response.ok) throw new Error(await errorText(response));
    const reply = await streamInto(response, target);
    history.push({ role: "assistant", content: reply });
    target.dataset.state = "done";
  } catch (e) {
    history.pop();
    target.remove();
    throw e;
  }
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("message").value;
  $("message").value = "";
  bubble("user", text);
  $("send").disabled = true;
  try {
    await send(text);
  } catch (e) {
    bubble("error", String(e.message || e));
  } finally {
    $("send").disabled = false;
  }
});

$("clear").addEventListener("click", () => { history = []; $("log").replaceChildren(); });
loadModel().catch(() => {});  // shows the model name; a missing key is reported on send
