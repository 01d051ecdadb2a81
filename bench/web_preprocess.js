// The page's preparation of a drawing (static/imaging.js, resample.js, preprocess.js) timed in
// node, for bench/web_preprocess.py: node bench/web_preprocess.js DRAWINGS ROUNDS DIR [DIR...]
// DRAWINGS holds uint32 n, then per drawing uint32 width, height and its RGBA bytes. Each
// folder's scripts get their own globalThis (a plain object: a vm context makes every
// global lookup slow); the folders take turns on each drawing, in an order that rotates, so
// another process's bursts fall on all alike. Prints one JSON document: per folder the
// median ms of each drawing over the rounds, and how many drawings' results differ from
// the first folder's (28x28 image, extent or stroke).
"use strict";
const fs = require("fs");

const [file, rounds, ...dirs] = process.argv.slice(2);
const SCRIPTS = ["imaging.js", "resample.js", "preprocess.js"]; // resample.js is newer than some

function load(dir) {
  const global = {};
  for (const name of SCRIPTS.filter((f) => fs.existsSync(`${dir}/${f}`))) {
    new Function("globalThis", fs.readFileSync(`${dir}/${name}`, "utf8"))(global);
  }
  return global.mnistlabPreprocess;
}

function drawings(path) {
  const buf = fs.readFileSync(path), out = [];
  for (let i = 0, at = 4; i < buf.readUInt32LE(0); i++) {
    const w = buf.readUInt32LE(at), h = buf.readUInt32LE(at + 4);
    out.push({ w, h, rgba: new Uint8ClampedArray(buf.buffer, buf.byteOffset + at + 8, w * h * 4) });
    at += 8 + w * h * 4;
  }
  return out;
}

function prepare(impl, d) {
  try {
    const { image, ink } = impl.prepare(d.rgba, d.w, d.h);
    return { image: Array.from(image), ink };
  } catch (err) {
    return { error: err.message };
  }
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const items = drawings(file), impls = dirs.map(load);
const reference = items.map((d) => JSON.stringify(prepare(impls[0], d)));
const differing = impls.map((impl) => items.filter((d, i) => JSON.stringify(prepare(impl, d)) !== reference[i]).length);
const ms = impls.map(() => items.map(() => []));
for (let r = 0; r < Number(rounds); r++) {
  items.forEach((d, i) => {
    for (let turn = 0; turn < impls.length; turn++) {
      const k = (turn + r + i) % impls.length, start = process.hrtime.bigint();
      try {
        impls[k].prepare(d.rgba, d.w, d.h);
      } catch {} // a refused drawing (no ink) is timed too
      ms[k][i].push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  });
}
process.stdout.write(JSON.stringify({ node: process.version, differing, ms: ms.map((per) => per.map(median)) }) + "\n");
