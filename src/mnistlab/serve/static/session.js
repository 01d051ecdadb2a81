// One onnxruntime-web session of model.onnx, for the worker that starts it (model-worker.js)
// and for the page that takes it over (local.js): the same options, the same outputs.
"use strict";

(function (global) {
  // A session of `model` (bytes) on `wasm` (the runtime's WebAssembly, bytes), the runtime's
  // other files under the URL `runtime`. One thread: a 28x28 image gains nothing from more.
  // No graph optimizations: the runtime's optimizers are code the browser compiles on their
  // first call, which costs the start-up more than they save this small a model (the
  // session and its first run about 80 ms sooner on a 2-core AMD EPYC Zen 4, later runs as fast).
  function open(ort, runtime, wasm, model) {
    Object.assign(ort.env.wasm, { numThreads: 1, wasmPaths: runtime, wasmBinary: wasm });
    return ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "disabled" });
  }

  // The outputs for n 28x28 images (Float32Array, n x 784, ink in [0, 1]): {probabilities,
  // scores}, Float32Arrays of n x classes and of n (null: a model without a reject score).
  async function run(ort, session, images) {
    const out = await session.run({ images: new ort.Tensor("float32", images, [images.length / 784, 1, 28, 28]) });
    return { probabilities: out.probabilities.data, scores: out.reject_score ? out.reject_score.data : null };
  }

  global.mnistlabSession = { open, run };
})(globalThis);
