// The model, off the page's thread while onnxruntime-web starts: a dedicated worker, started
// by local.js, that runs model.onnx until the page has its own session (local.js says why).
// Messages in: {id, load: {runtime, loader, wasm, model}} (absolute URLs); {id, images:
// Float32Array} (n x 784, ink in [0, 1]), answered once the model is ready; {id, handOver}.
// Out: {id, loaded: true}; {id, probabilities, scores} (Float32Arrays: n x classes, and n or
// null); {id, wasm, model}, the bytes the session was made from; or {id, failed}.
"use strict";

importScripts("session.js");

let begin = null; // called with the load message's URLs
let made = null; // {wasm, model}: the bytes the session was made from
const loading = new Promise((done) => (begin = done)).then(load); // the session

async function response(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
  return res;
}

const bytes = async (url) => new Uint8Array(await (await response(url)).arrayBuffer());

// The WebAssembly binary is stored gzipped, and inflated as it arrives; a host that sends
// it with Content-Encoding gzip has inflated it already (no gzip magic number first).
async function inflated(url) {
  const reader = (await response(url)).body.getReader();
  const first = await reader.read();
  const gzipped = !first.done && first.value[0] === 0x1f && first.value[1] === 0x8b;
  const body = new ReadableStream({
    start: (out) => (first.done ? out.close() : out.enqueue(first.value)),
    async pull(out) {
      const { done, value } = await reader.read();
      done ? out.close() : out.enqueue(value);
    },
  });
  const stream = gzipped ? body.pipeThrough(new DecompressionStream("gzip")) : body;
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function load({ runtime, loader, wasm, model }) {
  const binary = inflated(runtime + wasm); // the downloads at once
  const graph = bytes(model);
  importScripts(runtime + loader);
  made = { wasm: await binary, model: await graph };
  return self.mnistlabSession.open(self.ort, runtime, made.wasm, made.model);
}

async function reply(data) {
  if (data.load) {
    begin(data.load);
    await loading;
    return { loaded: true };
  }
  if (data.handOver) return made;
  return self.mnistlabSession.run(self.ort, await loading, data.images);
}

self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ id: data.id, ...(await reply(data)) });
  } catch (err) {
    self.postMessage({ id: data.id, failed: err.message || String(err) });
  }
};
