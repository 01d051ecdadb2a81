// The model in the browser: onnxruntime-web (WebAssembly, one thread) runs model.onnx (in a
// web worker while it starts, then here: see load) on the drawing prepared here by
// preprocess.js, so an answer needs no round trip. model.json, written beside model.onnx
// (`mnistlab export --format web`, or `mnistlab serve`'s GET /model.json), says whether a
// model and the runtime are there, and holds what the reject rule needs outside the graph:
// the ink rule's limits, the reject threshold, the "unsure" limit and the messages, so an
// answer here is the server's answer. Until (or unless) it is ready, `mnistlabLocal.ready()`
// is false and the page asks the server.
"use strict";

(function (global) {
  const page = (path) => new URL(path, document.baseURI).href;
  let loaded = null; // {manifest, run(images)} once the model is ready (in the worker, then here)
  let failure = null; // why it is not, for the page to say (static site) or ignore (server)

  // model.json: the run's classes and facts, and whether the browser can run it.
  const manifestLoaded = fetch(page("model.json")).then((res) => {
    if (!res.ok) throw new Error(`model.json: ${res.status} ${res.statusText}`);
    return res.json();
  });

  // The worker's replies, by request id: the returned call(message, transfer) resolves to
  // the reply, or rejects with its {failed} (or the worker's error, if it fails to start);
  // call.close() ends the worker once no reply is awaited.
  function caller(worker) {
    const pending = new Map();
    let sent = 0, closing = false;
    worker.onmessage = ({ data }) => {
      const [done, fail] = pending.get(data.id);
      pending.delete(data.id);
      data.failed ? fail(new Error(data.failed)) : done(data);
      if (closing && !pending.size) worker.terminate();
    };
    worker.onerror = (e) => {
      for (const [, fail] of pending.values()) fail(new Error(e.message || "the model's worker did not start"));
      pending.clear();
    };
    const call = (message, transfer = []) => new Promise((done, fail) => {
      pending.set(++sent, [done, fail]);
      worker.postMessage({ ...message, id: sent }, transfer);
    });
    call.close = () => (pending.size ? (closing = true) : worker.terminate());
    return call;
  }

  // onnxruntime-web's start-up is the longest thing the page does: a few hundred ms,
  // mostly its WebAssembly compiled function by function as it is first called. So the model
  // starts in a worker (model-worker.js) as soon as this script runs, in the page's head,
  // while the pen draws and a finished stroke is prepared here; the worker answers the first
  // drawings. An answer from the worker waits for the page's next free moment, often a
  // frame (a few ms), so once the worker is ready the page starts its own session in an
  // idle moment, then answers on its own thread and ends the worker. The browser keeps
  // the worker's compiled code for the same binary: that start-up takes about a third as long.
  async function load() {
    if (location.protocol === "file:") throw new Error("open it through a web server (python -m http.server), not as a file");
    if (!global.Worker) throw new Error("this browser has no web workers");
    const worker = new Worker(page("static/model-worker.js"));
    const manifest = await manifestLoaded.catch((err) => ({ error: err.message }));
    const unfit = manifest.error || (!manifest.model || !manifest.runtime ? "no model or runtime to run here"
      : manifest.preprocessing !== "digits" ? "only digits are prepared in the browser" : null);
    if (unfit) {
      worker.terminate();
      throw new Error(unfit);
    }
    const call = caller(worker), runtime = page(manifest.runtime);
    await call({ load: { runtime, loader: manifest.loader, wasm: manifest.wasm, model: page(manifest.model) } });
    loaded = { manifest, run: (images) => call({ images }, [images.buffer]) };
    onPage(() => warmUp(WARM_UP_RUNS));
    whenIdle(() => takeOver(call, runtime, manifest.loader).catch(() => {})); // else the worker goes on
    return loaded;
  }

  // The page's own session, from the worker's bytes: loaded.run then runs here.
  async function takeOver(call, runtime, loader) {
    const { wasm, model } = await call({ handOver: true });
    await loadScript(runtime + loader);
    const session = await global.mnistlabSession.open(global.ort, runtime, wasm, model);
    loaded.run = (images) => global.mnistlabSession.run(global.ort, session, images);
    call.close();
  }

  function loadScript(src) {
    return new Promise((done, fail) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = done;
      s.onerror = () => fail(new Error(`cannot load ${src}`));
      document.head.append(s);
    });
  }

  // fn in an idle moment when no answer is under way: a person's drawing goes first (without
  // requestIdleCallback, soon)
  function whenIdle(fn) {
    if (!global.requestIdleCallback) return void setTimeout(fn, 0);
    requestIdleCallback(() => (answering ? whenIdle(fn) : fn()));
  }

  // fn once the page's elements are there
  function onPage(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn, { once: true });
    else fn();
  }

  const STATIC_SITE = document.documentElement.dataset.site === "static"; // no server behind
  const whenLoaded = load().then(
    (done) => {
      onPage(() => (document.getElementById("where").hidden = false)); // "running in your browser"
      return done;
    },
    (err) => {
      failure = err;
      if (STATIC_SITE) {
        onPage(() => {
          const where = document.getElementById("where");
          where.textContent = `The model cannot run in this browser: ${err.message}.`;
          where.hidden = false;
        });
      }
      return null;
    },
  );

  // The preparation's first runs are slow while the browser compiles it (on the page's canvas
  // about 230, 60, 80, 40, 40, 30 ms, then 5 to 15): once the model is ready (before, the
  // worker starting it needs the CPU more), a made-up "7" as wide as the canvas is prepared
  // once per idle moment when no answer is under way, so that a person's next strokes are
  // answered at full speed.
  const WARM_UP_RUNS = 8;
  let answering = 0; // answers under way

  function warmUp(runs) {
    const canvas = document.getElementById("canvas");
    if (!canvas) return;
    let seven = null; // its pixels, made in the first idle moment
    const next = (left) => whenIdle(() => {
      seven ||= madeUpSeven(canvas.width, canvas.height);
      global.mnistlabPreprocess.prepare(seven, canvas.width, canvas.height);
      if (left > 1) next(left - 1);
    });
    next(runs);
  }

  function madeUpSeven(w, h) {
    const c = Object.assign(document.createElement("canvas"), { width: w, height: h });
    const ctx = Object.assign(c.getContext("2d", { willReadFrequently: true }), { lineWidth: w / 15, lineCap: "round" });
    ctx.moveTo(0.3 * w, 0.25 * h);
    ctx.lineTo(0.7 * w, 0.25 * h);
    ctx.lineTo(0.45 * w, 0.8 * h);
    ctx.stroke();
    return ctx.getImageData(0, 0, w, h).data;
  }

  // The image's own size: an <img>'s width and height are its size on the page.
  const sizeOf = (source) => [source.naturalWidth || source.width, source.naturalHeight || source.height];

  function pixels(source) {
    const [width, height] = sizeOf(source);
    const c = source instanceof HTMLCanvasElement ? source : Object.assign(document.createElement("canvas"), { width, height });
    const ctx = c.getContext("2d", { willReadFrequently: true });
    if (c !== source) ctx.drawImage(source, 0, 0);
    return ctx.getImageData(0, 0, width, height).data;
  }

  // The 28x28 image as a PNG data URL, drawn on one small canvas kept in memory (not on the
  // GPU: it is read back at once) for every answer.
  const small = Object.assign(document.createElement("canvas"), { width: 28, height: 28 });
  const smallContext = small.getContext("2d", { willReadFrequently: true });
  const smallPixels = smallContext.createImageData(28, 28);

  function preview(image) {
    const px = smallPixels.data;
    for (let i = 0; i < 784; i++) {
      px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = image[i];
      px[4 * i + 3] = 255;
    }
    smallContext.putImageData(smallPixels, 0, 0);
    return small.toDataURL("image/png");
  }

  // Classifier.prediction's rule: too little ink first, then the reject score, then unsure.
  function reason(m, ink, proba, score) {
    const { too_thick, thick, small } = m.ink;
    if (ink.stroke !== null && (ink.stroke >= too_thick || (ink.stroke >= thick && ink.extent <= small))) {
      return m.messages.too_little_ink;
    }
    if (!m.reject || score === null) return null;
    if (score > m.reject.threshold) return m.messages.not_like;
    const order = [...proba.keys()].sort((a, b) => proba[b] - proba[a]);
    if (proba[order[0]] >= m.reject.unsure_below) return null;
    return m.messages.unsure.replace("{}", m.classes[order[0]]).replace("{}", m.classes[order[1]]);
  }

  // The model's answer for 28x28 uint8 images (light ink on black), in one batch.
  async function run(images) {
    const x = new Float32Array(images.length * 784);
    images.forEach((image, n) => {
      for (let i = 0; i < 784; i++) x[n * 784 + i] = image[i] / 255;
    });
    const { probabilities, scores } = await loaded.run(x);
    const classes = loaded.manifest.classes.length;
    return images.map((_, n) => ({
      probabilities: Array.from(probabilities.subarray(n * classes, (n + 1) * classes)),
      score: scores ? scores[n] : null,
    }));
  }

  // /api/predict's answer for a canvas or a decoded image, computed here; the drawing is
  // prepared while the model may still be starting.
  async function predict(source) {
    const rgba = pixels(source);
    const { image, ink } = global.mnistlabPreprocess.prepare(rgba, ...sizeOf(source));
    if (!(await whenLoaded)) return null;
    const m = loaded.manifest;
    const [{ probabilities, score }] = await run([image]);
    const label = probabilities.indexOf(Math.max(...probabilities));
    const why = reason(m, ink, probabilities, score);
    return { label, name: m.classes[label], probabilities, accepted: why === null, reason: why, preprocessed: preview(image), run: m.about.run };
  }

  // predict's answer as app.js handles the server's: {ok, body}; a drawing without ink (or a
  // photo, which needs the server's lighting fit) is {ok: false, body: {error}}.
  async function answer(source) {
    answering++;
    try {
      return await answerNow(source);
    } finally {
      answering--;
    }
  }

  async function answerNow(source) {
    const cannot = () => ({ ok: false, body: { error: `The model cannot run in this browser (${failure.message}).` } });
    if (failure) return cannot();
    try {
      if (source instanceof HTMLImageElement) await source.decode();
      const body = await predict(source);
      return body ? { ok: true, body } : cannot();
    } catch (err) {
      if (!(err instanceof global.mnistlabPreprocess.PrepareError)) throw err;
      const message = err.reason === "photo" ? "Photos need the server (mnistlab serve): this page prepares drawings only." : err.message;
      return { ok: false, body: { error: message } };
    }
  }

  global.mnistlabLocal = {
    STATIC_SITE,
    info: () => manifestLoaded.then((m) => ({ ...m.about, classes: m.classes, preprocessing: m.preprocessing })),
    whenLoaded, // resolves to {manifest, run} once the model is ready, or to null: the page must use the server
    ready: () => loaded !== null,
    answer,
  };
})(globalThis);
