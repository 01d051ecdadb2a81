// The model in the browser: onnxruntime-web (WebAssembly, one thread) runs model.onnx on the
// drawing prepared by preprocess.js, so an answer needs no round trip. model.json, written
// beside model.onnx (`mnistlab export --format web`, or `mnistlab serve`'s GET /model.json),
// says whether a model and the runtime are there, and holds what the reject rule needs
// outside the graph: the ink rule's limits, the reject threshold, the "unsure" limit and the
// messages, so an answer here is the server's answer. Until (or unless) it is ready,
// `mnistlabLocal.ready()` is false and the page asks the server.
"use strict";

(function (global) {
  const page = (path) => new URL(path, document.baseURI).href;
  let loaded = null; // {manifest, session} once ready
  let failure = null; // why it is not, for the page to say (static site) or ignore (server)

  function loadScript(src) {
    return new Promise((done, fail) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = done;
      s.onerror = () => fail(new Error(`cannot load ${src}`));
      document.head.append(s);
    });
  }

  async function bytes(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  // The WebAssembly binary is stored gzipped; a host that sends it with Content-Encoding
  // gzip has inflated it already (no gzip magic number left).
  async function inflate(data) {
    if (data[0] !== 0x1f || data[1] !== 0x8b) return data;
    const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // model.json: the run's classes and facts, and whether the browser can run it.
  const manifestLoaded = fetch(page("model.json")).then((res) => {
    if (!res.ok) throw new Error(`model.json: ${res.status} ${res.statusText}`);
    return res.json();
  });

  async function load() {
    if (location.protocol === "file:") throw new Error("open it through a web server (python -m http.server), not as a file");
    const manifest = await manifestLoaded;
    if (!manifest.model || !manifest.runtime) throw new Error("no model or runtime to run here");
    if (manifest.preprocessing !== "digits") throw new Error("only digits are prepared in the browser");
    const base = page(manifest.runtime);
    const wasm = bytes(base + manifest.wasm).then(inflate); // all three downloads at once
    const model = bytes(page(manifest.model));
    await loadScript(base + manifest.loader);
    const ort = global.ort;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = base;
    ort.env.wasm.wasmBinary = await wasm;
    const session = await ort.InferenceSession.create(await model, { executionProviders: ["wasm"] });
    loaded = { manifest, session };
    return loaded;
  }

  const STATIC_SITE = document.documentElement.dataset.site === "static"; // no server behind
  const whenLoaded = load().then(
    (done) => {
      document.getElementById("where").hidden = false; // "running in your browser"
      warmUp(WARM_UP_RUNS);
      return done;
    },
    (err) => {
      failure = err;
      if (STATIC_SITE) {
        const where = document.getElementById("where");
        where.textContent = `The model cannot run in this browser: ${err.message}.`;
        where.hidden = false;
      }
      return null;
    },
  );

  // The preparation's first runs are slow while the browser compiles it (on the page's canvas
  // about 230, 60, 80, 40, 40, 30 ms, then 5 to 15): once the model is ready, a made-up "7"
  // as wide as the canvas is prepared once per idle moment when no answer is under way, so
  // that a person's first strokes are answered at full speed. Browsers without
  // requestIdleCallback skip it.
  const WARM_UP_RUNS = 8;
  let answering = 0; // answers under way (the first one may be waiting for the model)

  function warmUp(runs) {
    const canvas = document.getElementById("canvas");
    if (!global.requestIdleCallback || !canvas) return;
    let seven = null; // its pixels, made in the first idle moment
    const next = (left) => requestIdleCallback(() => {
      if (answering) return next(left); // a person's drawing goes first
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
    const { session } = loaded;
    const x = new Float32Array(images.length * 784);
    images.forEach((image, n) => {
      for (let i = 0; i < 784; i++) x[n * 784 + i] = image[i] / 255;
    });
    const feeds = { images: new global.ort.Tensor("float32", x, [images.length, 1, 28, 28]) };
    const out = await session.run(feeds);
    const classes = loaded.manifest.classes.length;
    return images.map((_, n) => ({
      probabilities: Array.from(out.probabilities.data.subarray(n * classes, (n + 1) * classes)),
      score: out.reject_score ? out.reject_score.data[n] : null,
    }));
  }

  // /api/predict's answer for a canvas or a decoded image, computed here.
  async function predict(source) {
    const m = loaded.manifest;
    const rgba = pixels(source);
    const { image, ink } = global.mnistlabPreprocess.prepare(rgba, ...sizeOf(source));
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
    if (!(await whenLoaded)) return { ok: false, body: { error: `The model cannot run in this browser (${failure.message}).` } };
    try {
      if (source instanceof HTMLImageElement) await source.decode();
      return { ok: true, body: await predict(source) };
    } catch (err) {
      if (!(err instanceof global.mnistlabPreprocess.PrepareError)) throw err;
      const message = err.reason === "photo" ? "Photos need the server (mnistlab serve): this page prepares drawings only." : err.message;
      return { ok: false, body: { error: message } };
    }
  }

  global.mnistlabLocal = {
    STATIC_SITE,
    info: () => manifestLoaded.then((m) => ({ ...m.about, classes: m.classes, preprocessing: m.preprocessing })),
    whenLoaded, // resolves to {manifest, session}, or null when the page must use the server
    ready: () => loaded !== null,
    answer,
    predict,
    run,
  };
})(globalThis);
