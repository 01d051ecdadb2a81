// Draw (Pointer Events: mouse, touch, pen) or upload an image; POST it to /api/predict
// while drawing (debounced), or answer in the browser when the model runs here (local.js),
// and show the answer, a bar per class, and the 28x28 image
// the model received. The canvas is exported as dark strokes on transparent pixels;
// the server's preprocessing turns that into an MNIST-like image.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true }); // local.js reads it back
const DEBOUNCE_MS = 200;
const LINE_WIDTH = canvas.width / 15; // a marker, as thick relative to the digit as MNIST's strokes

let classes = [];
let digits = true; // the run reads digits (MNIST); false: clothes
let strokes = []; // each stroke: [[x, y], ...] in canvas pixels
let current = null;
let upload = null; // a File, shown instead of the drawing
let version = 0; // bumped on every change, so a late answer for an old drawing is dropped
let timer = null;
let inflight = false;
let again = false;

// ── model info ───────────────────────────────────────────────────────────────
async function loadModel() {
  try {
    const info = mnistlabLocal.STATIC_SITE ? await mnistlabLocal.info() : await (await fetch("/api/model")).json();
    classes = info.classes;
    const acc = info.test_accuracy == null ? "not evaluated" : `${(info.test_accuracy * 100).toFixed(1)}% test accuracy`;
    $("model").innerHTML = "";
    $("model").append(strong(info.model), ` · ${info.dataset} · ${acc}`);
    digits = info.preprocessing !== "objects";
    if (info.preprocessing === "objects") {
      $("title").textContent = "Draw or upload a piece of clothing";
      $("hint").textContent = "Photos of one item on a plain background work best. Drop an image anywhere.";
    }
    renderBars(null);
  } catch (err) {
    $("model").textContent = "cannot reach the server";
  }
}

function strong(text) {
  const el = document.createElement("strong");
  el.textContent = text;
  return el;
}

// ── drawing ──────────────────────────────────────────────────────────────────
function point(e) {
  const r = canvas.getBoundingClientRect();
  return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
}

canvas.addEventListener("pointerdown", (e) => {
  if (e.pointerType === "mouse" && e.button !== 0) return;
  e.preventDefault();
  if (upload) clearAll();
  canvas.setPointerCapture(e.pointerId);
  current = [point(e)];
  strokes.push(current);
  changed();
});

canvas.addEventListener("pointermove", (e) => {
  if (!current) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) current.push(point(ev));
  changed();
});

for (const type of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(type, () => {
    if (!current) return;
    current = null;
    predictNow(); // the stroke is finished: answer without waiting for the debounce
    announce();
  });
}

function redraw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = ctx.fillStyle = "#111";
  ctx.lineWidth = LINE_WIDTH;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const s of strokes) {
    if (s.length === 1) {
      ctx.beginPath();
      ctx.arc(s[0][0], s[0][1], LINE_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(...s[0]);
    for (let i = 1; i < s.length - 1; i++) {
      const mid = [(s[i][0] + s[i + 1][0]) / 2, (s[i][1] + s[i + 1][1]) / 2];
      ctx.quadraticCurveTo(s[i][0], s[i][1], mid[0], mid[1]); // smooth through the midpoints
    }
    ctx.lineTo(...s[s.length - 1]);
    ctx.stroke();
  }
}

function changed() {
  version++;
  redraw();
  updateTools();
  schedule();
  announce();
}

// The Explain panel (explain.js) follows the same image: told of each change, it asks for it.
function announce() {
  const detail = { empty: !upload && !strokes.length, final: !current };
  document.dispatchEvent(new CustomEvent("mnistlab:input", { detail }));
}

function imageBlob() {
  return upload ? Promise.resolve(upload) : new Promise((done) => canvas.toBlob(done, "image/png"));
}

function updateTools() {
  const empty = strokes.length === 0 && !upload;
  $("placeholder").hidden = !empty;
  $("undo").disabled = strokes.length === 0;
  $("clear").disabled = empty;
}

function dropUpload() {
  upload = null;
  $("uploaded").hidden = true;
  $("uploaded").removeAttribute("src");
  updateTools();
  announce();
}

function clearAll() {
  strokes = [];
  current = null;
  dropUpload();
  version++;
  clearTimeout(timer);
  redraw();
  updateTools();
  showIdle();
  announce();
}

$("clear").addEventListener("click", clearAll);
$("undo").addEventListener("click", undo);

function undo() {
  if (!strokes.length) return;
  strokes.pop();
  if (!strokes.length) return clearAll();
  changed();
}

document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
    e.preventDefault();
    undo();
  } else if (e.key === "Escape") {
    clearAll();
  }
});

// ── upload and drag-and-drop ─────────────────────────────────────────────────
function useFile(file) {
  if (!file) return;
  clearAll();
  upload = file;
  const img = $("uploaded");
  img.src = URL.createObjectURL(file);
  img.onload = img.onerror = () => URL.revokeObjectURL(img.src);
  img.hidden = false;
  updateTools();
  predictNow();
  announce();
}

$("file").addEventListener("change", (e) => {
  useFile(e.target.files[0]);
  e.target.value = ""; // choosing the same file again still triggers a prediction
});

let dragDepth = 0;
document.addEventListener("dragenter", (e) => {
  e.preventDefault();
  dragDepth++;
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", () => {
  if (--dragDepth <= 0) document.body.classList.remove("dragging");
});
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  document.body.classList.remove("dragging");
  useFile(e.dataTransfer.files[0]);
});

// ── prediction ───────────────────────────────────────────────────────────────
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(predictNow, DEBOUNCE_MS);
}

async function predictNow() {
  clearTimeout(timer);
  if (!upload && !strokes.length) return;
  if (inflight) {
    again = true; // one request at a time; the newest drawing goes next
    return;
  }
  inflight = true;
  const asked = version;
  try {
    // In the browser when the model runs here (static/local.js): drawings, and uploads too
    // on a page exported without a server; else the server.
    const here = mnistlabLocal.STATIC_SITE || (!upload && mnistlabLocal.ready());
    const { ok, body } = here ? await mnistlabLocal.answer(upload ? $("uploaded") : canvas) : await askServer();
    if (asked !== version) return;
    if (ok) return showPrediction(body);
    if (upload) dropUpload(); // a refused file leaves no broken image on the pad
    showError(body.error);
  } catch (err) {
    if (asked === version) showError(`Cannot reach the server (${err.message}).`);
  } finally {
    inflight = false;
    if (again) {
      again = false;
      predictNow();
    }
  }
}

async function askServer() {
  const blob = await imageBlob();
  const form = new FormData();
  form.append("file", blob, upload ? upload.name : "canvas.png");
  const res = await fetch("/api/predict", { method: "POST", body: form });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  return { ok: res.ok, body: res.ok ? body : { error: body.error || res.statusText } };
}

// ── showing the answer ───────────────────────────────────────────────────────
function showPrediction(p) {
  $("error").hidden = true;
  const label = $("label");
  const refused = p.accepted === false; // older servers send no "accepted": an answer
  label.textContent = refused ? "?" : p.name;
  label.className = "top-label" + (p.name.length > 2 && !refused ? " long" : "") + (refused ? " refused" : "");
  if (refused) {
    $("name").textContent = digits ? "This doesn't look like a digit" : "This doesn't look like one of the classes";
    $("confidence").textContent = p.reason ? `${p.reason[0].toUpperCase()}${p.reason.slice(1)}.` : "";
  } else {
    $("name").textContent = p.name === String(p.label) ? `It's ${withArticle(p.name)}` : p.name;
    $("confidence").textContent = `${(p.probabilities[p.label] * 100).toFixed(1)}% sure`;
  }
  $("bars").classList.toggle("refused", refused);
  $("seen").src = p.preprocessed;
  $("seen").hidden = false;
  $("seen-empty").hidden = true;
  renderBars(p);
}

// "an 8", "an 11", "an 18", "an 80": the article of a number as it is spoken
function withArticle(number) {
  return (/^(8|1[18](\d{3})*$)/.test(number) ? "an " : "a ") + number;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  showNoPrediction("No prediction", "");
}

function showIdle() {
  $("error").hidden = true;
  showNoPrediction("Waiting for a drawing", "The prediction updates as you draw.");
}

function showNoPrediction(name, hint) {
  $("bars").classList.remove("refused");
  $("label").textContent = "?";
  $("label").className = "top-label idle";
  $("name").textContent = name;
  $("confidence").textContent = hint;
  $("seen").hidden = true;
  $("seen-empty").hidden = false;
  renderBars(null);
}

function renderBars(p) {
  const list = $("bars");
  if (list.children.length !== classes.length) {
    list.innerHTML = "";
    for (const name of classes) {
      const li = document.createElement("li");
      li.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
      li.querySelector(".name").textContent = name;
      list.append(li);
    }
  }
  [...list.children].forEach((li, i) => {
    const prob = p ? p.probabilities[i] : 0;
    li.classList.toggle("top", !!p && i === p.label);
    li.querySelector(".fill").style.width = `${(prob * 100).toFixed(1)}%`;
    li.querySelector(".pct").textContent = p ? `${(prob * 100).toFixed(1)}%` : "";
  });
}

showIdle();
updateTools();
loadModel();
