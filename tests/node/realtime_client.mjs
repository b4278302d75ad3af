// The official OpenAI Node SDK's Realtime WebSocket client, pointed at rt record --proxy.
// RT_BASE_URL: the proxy's https:// base URL (the SDK always dials wss://); prints one JSON line.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY, baseURL: process.env.RT_BASE_URL });
const rt = await OpenAIRealtimeWS.create(client, { model: "gpt-realtime" });
const types = [];
const errors = [];
const timer = setTimeout(() => rt.socket.terminate(), 10000);

rt.on("error", (err) => errors.push(String(err.message ?? err)));
rt.on("event", (event) => {
  types.push(event.type);
  if (event.type === "response.done") rt.close({ code: 1000, reason: "done" });
});
rt.socket.on("open", () => {
  rt.send({ type: "session.update", session: { type: "realtime", instructions: "Be brief." } });
  rt.send({ type: "response.create" });
});
rt.socket.on("close", (code) => {
  clearTimeout(timer);
  console.log(JSON.stringify({ types, errors, code }));
});
