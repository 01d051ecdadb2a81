// The Explain panel: why the model answers what it does, following the drawing live.
// app.js announces every change of the image ("mnistlab:input"); after a pause (longer than
// the prediction's, so the answer comes first) this posts the same image to /api/explain and
// draws what comes back: the attribution over the 28x28 image the model saw (the top class,
// or the runner-up), the nearest training images, each layer's strongest responses, and the
// image's place on the map of the test set (GET /api/map, fetched once).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const WAIT_MS = 350; // while drawing; the prediction's debounce is 200 ms
  const AFTER_STROKE_MS = 60; // a finished stroke: right after the prediction's request
  const BOUND_PERCENTILE = 0.95; // attributions: this share of the ink's magnitudes below full colour
  // matplotlib's tab10: the colours of the report's map and `mnistlab explain`'s figure
  const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];
  const PARTS = ["explain-why", "explain-place", "explain-near", "explain-inside"];

  let version = 0; // bumped on every change: a late answer for an old image is dropped
  let empty = true; // nothing drawn or uploaded: nothing to ask about
  let timer = null;
  let inflight = false;
  let again = false;
  let shown = null; // the explanation on screen
  let which = 0; // 0: the top class's attribution, 1: the runner-up's
  let map = null; // GET /api/map's points
  let mapAsked = null;

  // A page exported without a server (data-site="static") has no /api/explain: no panel.
  if (document.documentElement.dataset.site === "static") {
    $("explain").hidden = true;
    return;
  }

  document.addEventListener("mnistlab:input", (e) => {
    version++;
    empty = e.detail.empty;
    clearTimeout(timer);
    if (empty) return idle();
    timer = setTimeout(explainNow, e.detail.final ? AFTER_STROKE_MS : WAIT_MS);
  });

  async function explainNow() {
    if (empty) return; // cleared while a request was on its way
    if (inflight) {
      again = true; // one request at a time; the newest image goes next
      return;
    }
    inflight = true;
    const asked = version;
    $("explain").classList.add("busy");
    try {
      const form = new FormData();
      form.append("file", await imageBlob(), "image.png");
      const [res] = await Promise.all([fetch("/api/explain", { method: "POST", body: form }), loadMap()]);
      const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
      if (asked !== version) return;
      if (!res.ok) return status(`No explanation: ${body.error || res.statusText}`, true);
      show(body);
    } catch (err) {
      if (asked === version) status(`No explanation (${err.message}).`, true);
    } finally {
      inflight = false;
      if (asked === version) $("explain").classList.remove("busy");
      if (again) {
        again = false;
        explainNow();
      }
    }
  }

  function loadMap() {
    mapAsked = mapAsked || fetch("/api/map")
      .then((res) => (res.ok ? res.json() : null))
      .then((body) => { map = body; })
      .catch(() => { mapAsked = null; });
    return mapAsked;
  }

  function idle() {
    shown = null;
    $("explain").classList.remove("busy");
    status("Draw something: this panel shows why the model answers what it does.", false);
    for (const id of PARTS) $(id).dataset.filled = "false";
    for (const id of ["explain-neighbors", "explain-layers"]) $(id).replaceChildren();
    for (const id of ["explain-attribution", "explain-map"]) {
      const c = $(id);
      c.getContext("2d").clearRect(0, 0, c.width, c.height);
    }
    $("explain-top").textContent = "top class";
    $("explain-runner").textContent = "runner-up";
  }

  function status(text, problem) {
    $("explain-status").textContent = text;
    $("explain-status").classList.toggle("problem", problem);
  }

  function show(e) {
    shown = e;
    const [top, runner] = e.attribution;
    const verdict = e.accepted ? "" : ` The reader refuses it (${e.reason}); this is what the model would say.`;
    status(`It says ${top.name} (${pct(top.probability)}); the runner-up is ${runner.name} (${pct(runner.probability)}).${verdict}`, false);
    $("explain-top").textContent = `for ${top.name} · ${pct(top.probability)}`;
    $("explain-runner").textContent = `for ${runner.name} · ${pct(runner.probability)}`;
    drawAttribution();
    drawMap();
    showNeighbors(e.neighbors);
    showLayers(e.layers);
  }

  const pct = (p) => (p < 0.0001 ? "<0.01%" : `${(100 * p).toFixed(p < 0.001 ? 2 : 1)}%`);

  // ── the attribution over what the model saw ──────────────────────────────────
  for (const [id, index] of [["explain-top", 0], ["explain-runner", 1]]) {
    $(id).addEventListener("click", () => {
      which = index;
      $("explain-top").setAttribute("aria-pressed", String(index === 0));
      $("explain-runner").setAttribute("aria-pressed", String(index === 1));
      if (shown) drawAttribution();
    });
  }

  async function drawAttribution() {
    const e = shown;
    const ink = await pixels(e.preprocessed);
    if (e !== shown) return;
    const values = e.attribution[which].values.flat();
    const bound = percentile(values.filter((_, i) => ink[i] > 0).map(Math.abs), BOUND_PERCENTILE) || 1;
    const small = new ImageData(28, 28);
    for (let i = 0; i < 784; i++) {
      const a = Math.min(1, Math.abs(values[i]) / bound) * 0.9;
      const colour = values[i] >= 0 ? [214, 39, 40] : [31, 119, 180]; // red raises, blue lowers
      for (let k = 0; k < 3; k++) small.data[4 * i + k] = ink[i] * (1 - a) + colour[k] * a;
      small.data[4 * i + 3] = 255;
    }
    const scratch = small28();
    scratch.getContext("2d").putImageData(small, 0, 0);
    const c = $("explain-attribution");
    const ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(scratch, 0, 0, c.width, c.height);
    $("explain-why").dataset.filled = "true";
  }

  // The grey levels (0..255) of a 28x28 PNG data URL.
  async function pixels(url) {
    const img = new Image();
    img.src = url;
    await img.decode();
    const scratch = small28();
    const ctx = scratch.getContext("2d");
    ctx.drawImage(img, 0, 0, 28, 28);
    const rgba = ctx.getImageData(0, 0, 28, 28).data;
    return Array.from({ length: 784 }, (_, i) => rgba[4 * i]);
  }

  function small28() { // a plain canvas: older tablets lack OffscreenCanvas
    const c = document.createElement("canvas");
    c.width = c.height = 28;
    return c;
  }

  function percentile(values, q) {
    if (!values.length) return 0;
    const sorted = values.slice().sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }

  // ── the map of the test set, with the image's dot ────────────────────────────
  function drawMap() {
    if (!map || !shown) return;
    const c = $("explain-map");
    const box = c.getBoundingClientRect();
    const scale = window.devicePixelRatio || 1;
    c.width = Math.round(box.width * scale);
    c.height = Math.round(box.height * scale);
    const ctx = c.getContext("2d");
    const xs = [...map.x, shown.map.x];
    const ys = [...map.y, shown.map.y];
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const pad = 10 * scale;
    const px = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (c.width - 2 * pad);
    const py = (y) => c.height - pad - ((y - y0) / (y1 - y0 || 1)) * (c.height - 2 * pad);
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.globalAlpha = 0.55;
    map.x.forEach((x, i) => {
      ctx.fillStyle = COLOURS[map.labels[i] % 10];
      ctx.fillRect(px(x) - 1.5 * scale, py(map.y[i]) - 1.5 * scale, 3 * scale, 3 * scale);
    });
    ctx.globalAlpha = 1;
    const [x, y] = [px(shown.map.x), py(shown.map.y)];
    ctx.beginPath();
    ctx.arc(x, y, 9 * scale, 0, 2 * Math.PI);
    ctx.fillStyle = COLOURS[shown.label % 10];
    ctx.fill();
    ctx.lineWidth = 3 * scale;
    ctx.strokeStyle = "#111";
    ctx.stroke();
    ctx.font = `700 ${14 * scale}px system-ui, sans-serif`;
    ctx.fillStyle = "#111";
    const label = "your drawing";
    const width = ctx.measureText(label).width;
    const right = x + 13 * scale + width <= c.width; // else on the dot's left
    ctx.fillText(label, right ? x + 13 * scale : x - 13 * scale - width, Math.max(y - 10 * scale, 16 * scale));
    $("explain-place").dataset.filled = "true";
    $("explain-map-count").textContent = map.x.length.toLocaleString("en");
    legend(map.classes);
  }

  function legend(classes) {
    const list = $("explain-map-legend");
    if (list.children.length === classes.length) return;
    list.replaceChildren(...classes.map((name, i) => {
      const li = document.createElement("li");
      li.style.setProperty("--dot", COLOURS[i % 10]);
      li.textContent = name;
      return li;
    }));
  }

  window.addEventListener("resize", () => {
    clearTimeout(drawMap.timer);
    drawMap.timer = setTimeout(drawMap, 100);
  });

  // ── the nearest training images ──────────────────────────────────────────────
  function showNeighbors(neighbors) {
    $("explain-neighbors").replaceChildren(...neighbors.map((n) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = n.image;
      img.alt = `training image ${n.index}, a ${n.name}`;
      const name = document.createElement("b");
      name.textContent = n.name;
      const far = document.createElement("span");
      far.textContent = `distance ${n.distance.toFixed(2)}`;
      li.append(img, name, far);
      return li;
    }));
    $("explain-near").dataset.filled = String(neighbors.length > 0);
  }

  // ── inside the network: each layer's strongest channels or units ─────────────
  function showLayers(layers) {
    $("explain-layers").replaceChildren(...layers.map((layer) => {
      const row = document.createElement("div");
      row.className = `layer ${layer.kind}`;
      const title = document.createElement("p");
      title.textContent = `${layer.name} · ${layer.shape.join("×")}`;
      const shown = document.createElement("div");
      shown.className = "responses";
      if (layer.kind === "conv") {
        shown.append(...layer.maps.map((url, i) => {
          const img = document.createElement("img");
          img.src = url;
          img.alt = img.title = `channel ${layer.channels[i]}`;
          return img;
        }));
      } else {
        const top = Math.max(...layer.strength.map(Math.abs), 1e-9);
        shown.append(...layer.strength.map((s, i) => {
          const bar = document.createElement("span");
          bar.title = `unit ${layer.channels[i]}: ${s.toFixed(2)}`;
          bar.style.height = `${Math.max(4, (100 * Math.abs(s)) / top)}%`;
          bar.classList.toggle("negative", s < 0);
          return bar;
        }));
      }
      row.append(title, shown);
      return row;
    }));
    $("explain-inside").dataset.filled = String(layers.length > 0);
  }

  idle();
})();
