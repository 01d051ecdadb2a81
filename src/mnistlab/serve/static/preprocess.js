// The page's drawing prepared the way mnistlab.prediction.preprocess prepares a canvas
// export, in the browser: ink from alpha (or dark strokes on a flat background), cleaned up
// on a copy of at most 256 px, the ink's region redone from the full drawing, strokes made
// as wide as MNIST's, fitted into 20x20 and centred by mass in 28x28. Each function below
// names the Python function it ports (prediction/preprocess.py, prediction/framing.py);
// resample.js reproduces Pillow's resampling and imaging.js SciPy's blur, labelling and
// distances, so the 28x28 image is the server's to within a grey level or two
// (tests/test_web.py measures it). Photos need the server's lighting fit: `prepare` refuses
// an image whose background is not flat. Steps work in place, on scratch arrays (imaging.js).
"use strict";

(function (global) {
  const { scratch, releaseScratch, image, roundHalfEven, cropLA, reduce, resizeFloat, resizeLA, median, otsu, gaussian, dilate, label, distances, pad } =
    global.mnistlabImaging; // imaging.js and resample.js, loaded first
  const BYTE = Math.fround(1 / 255); // a byte's 1/255 in float32, as NumPy's float32 division
  const ANALYSIS_SIDE = 256, DETAIL_SIDE = 400, BLUR_PER_SIDE = 0.001, MIN_CONTRAST = 0.1;
  const MNIST_STROKE = 0.135, STROKE_SIDE = 200, MNIST_CENTRE = 14.0;

  class PrepareError extends Error {
    constructor(message, reason) {
      super(message);
      this.reason = reason; // "no_ink": nothing drawn; "photo": needs the server's lighting fit
    }
  }

  const BLANK = "no ink found: the image is blank (draw or upload a digit)";

  // ── the steps ────────────────────────────────────────────────────────────────────────
  // preprocess._arrays and _background: grey composited over the colour that keeps ink ink.
  function flatten(la) {
    const n = la.w * la.h, l = la.l, a = la.a, opaque = scratch(Float32Array, n, false);
    let count = 0;
    for (let i = 0; i < n; i++) if (Math.fround(a[i] * BYTE) > 0.5) opaque[count++] = Math.fround(l[i] * BYTE);
    const share = count / n;
    if (share === 0) throw new PrepareError("no ink found: the image is fully transparent", "no_ink");
    if (share === 1) return { gray: composite(la, null), flat: null };
    const tone = median(opaque.subarray(0, count));
    const flat = share < 0.5 ? (tone < 0.5 ? 1 : 0) : tone;
    return { gray: composite(la, flat), flat };
  }

  // An LA image's grey (a byte's 1/255 in float32) over `flat` by alpha, or as it is where
  // flat is null.
  function composite(la, flat) {
    const n = la.w * la.h, l = la.l, a = la.a, out = scratch(Float32Array, n, false);
    if (flat === null) {
      for (let i = 0; i < n; i++) out[i] = Math.fround(l[i] * BYTE);
    } else {
      for (let i = 0; i < n; i++) out[i] = over(l[i], a[i], flat);
    }
    return out;
  }

  // grey byte l over `flat` by alpha byte a, in float32 as NumPy: g * a + flat * (1 - a)
  function over(l, a, flat) {
    const g = Math.fround(l * BYTE), t = Math.fround(a * BYTE);
    return Math.fround(g * t) + Math.fround(flat * Math.fround(1 - t));
  }

  function sigmaFor(side) {
    const sigma = side * BLUR_PER_SIDE;
    return sigma >= 0.5 ? sigma : 0;
  }

  // preprocess._ink: ink strength in [0, 1] on a 0 background, and how it was found.
  function findInk(smooth) {
    const d = smooth.d, n = d.length;
    let background = median(d), lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (d[i] < lo) lo = d[i];
      if (d[i] > hi) hi = d[i];
    }
    if (hi - lo < MIN_CONTRAST) throw new PrepareError(BLANK, "no_ink");
    const invert = background - lo > hi - background;
    if (invert) background = 1 - background;
    // ink above the background, and how many pixels are the background (in float32, as NumPy)
    const bg = Math.fround(background), ink = scratch(Float32Array, n, false);
    let same = 0, peak = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = invert ? Math.fround(1 - d[i]) : d[i];
      same += v === bg;
      ink[i] = v - bg;
      if (ink[i] > peak) peak = ink[i];
    }
    if (same * 2 < n) throw new PrepareError("a photo's uneven background needs the server's lighting fit", "photo");
    if (peak < MIN_CONTRAST) throw new PrepareError(BLANK, "no_ink");
    scaled(ink, 0, peak);
    const threshold = otsu(ink);
    let dropped = null, found = ink;
    if (threshold) [found, dropped] = despeckle(smooth.w, smooth.h, levels(ink, threshold));
    if (!anyInk(found)) throw new PrepareError("no ink found: nothing stands out from the background", "no_ink");
    return [image(smooth.w, smooth.h, found), { invert, background: bg, peak, threshold, dropped }];
  }

  // preprocess._levels (digits): background to 0, the median stroke to full strength; in place.
  // The ink is first scaled by `peak` (as `scaled(ink, 0, peak)`: with 1, ink already in
  // [0, 1] stays as it is), in the same pass.
  function levels(ink, threshold, peak = 1) {
    const strokes = scratch(Float32Array, ink.length, false);
    let n = 0;
    for (let i = 0; i < ink.length; i++) {
      ink[i] = Math.min(1, Math.max(0, ink[i] / peak));
      if (ink[i] > threshold) strokes[n++] = ink[i];
    }
    const floor = threshold * 0.5, level = median(strokes.subarray(0, n));
    return scaled(ink, floor, Math.max(level - floor, 1e-6));
  }

  // clip((a - shift) / by, 0, 1) in float32, in place (the quotient's rounding to float32 is
  // the store's: clipping to 0 and 1 commutes with it).
  function scaled(a, shift, by) {
    for (let i = 0; i < a.length; i++) a[i] = Math.min(1, Math.max(0, Math.fround(a[i] - shift) / by));
    return a;
  }

  function anyInk(a) {
    for (let i = 0; i < a.length; i++) if (a[i] > 0) return true;
    return false;
  }

  // preprocess._despeckle: drop specks and clutter along the border, in place; also what was dropped.
  function despeckle(w, h, ink) {
    const reach = Math.max(1, roundHalfEven(Math.max(w, h) / 200));
    let near = scratch(Uint8Array, w * h, false);
    for (let i = 0; i < w * h; i++) near[i] = ink[i] > 0 ? 1 : 0;
    for (let r = 0; r < reach; r++) near = dilate(near, w, h);
    const [labels, n] = label(near, w, h);
    if (n < 2) return [ink, null];
    const mass = new Float64Array(n + 1);
    for (let i = 0; i < w * h; i++) mass[labels[i]] += ink[i];
    const contact = (indices) => {
      const c = new Float64Array(n + 1);
      for (const i of indices) c[labels[i]]++;
      return c;
    };
    const range = (count, f) => Array.from({ length: count }, (_, i) => f(i));
    const [top, bottom] = [contact(range(w, (x) => x)), contact(range(w, (x) => (h - 1) * w + x))];
    const [left, right] = [contact(range(h, (y) => y * w)), contact(range(h, (y) => y * w + w - 1))];
    const clutter = range(n + 1, (c) => top[c] > w / 4 || bottom[c] > w / 4 || left[c] > h / 4 || right[c] > h / 4);
    let kept = 0, cluttered = 0;
    for (let c = 1; c <= n; c++) clutter[c] ? (cluttered += mass[c]) : (kept += mass[c]);
    if (kept >= 0.002 * cluttered) for (let c = 1; c <= n; c++) if (clutter[c]) mass[c] = 0;
    let total = 0;
    for (let c = 1; c <= n; c++) total += mass[c];
    const dropped = scratch(Uint8Array, w * h, false);
    for (let i = 0; i < w * h; i++) {
      const c = labels[i];
      dropped[i] = c > 0 && !(mass[c] >= 0.02 * total) ? 1 : 0;
      if (dropped[i]) ink[i] = 0;
    }
    return [ink, dropped];
  }

  // The rows and columns of the first and last ink (> 0): each row's ink from both ends.
  function inkBox(img) {
    const { w, h, d } = img;
    let top = h, bottom = -1, left = w, right = -1;
    for (let y = 0, row = 0; y < h; y++, row += w) {
      let x0 = 0, x1 = w - 1;
      while (x0 < w && !(d[row + x0] > 0)) x0++;
      if (x0 === w) continue;
      while (!(d[row + x1] > 0)) x1--;
      if (top === h) top = y;
      bottom = y;
      left = Math.min(left, x0);
      right = Math.max(right, x1);
    }
    return { top, bottom, left, right };
  }

  // framing.crop: the bounding box of the non-zero pixels.
  function crop(img) {
    const b = inkBox(img), w = b.right - b.left + 1, h = b.bottom - b.top + 1;
    const out = image(w, h);
    for (let y = 0; y < h; y++) out.d.set(img.d.subarray((y + b.top) * img.w + b.left, (y + b.top) * img.w + b.right + 1), y * w);
    return out;
  }

  // preprocess._detail: the ink's region redone from the full drawing, with the analysis
  // copy's background, threshold and dropped specks.
  function detail(src, k, ink, how, flat) {
    const { w, h } = ink, b = inkBox(ink);
    const top = Math.max(0, b.top - 2), bottom = Math.min(h, b.bottom + 3);
    const left = Math.max(0, b.left - 2), right = Math.min(w, b.right + 3);
    const box = [left * k, top * k, Math.min(src.w, right * k), Math.min(src.h, bottom * k)];
    const bw = box[2] - box[0], bh = box[3] - box[1];
    const scale = Math.min(1, DETAIL_SIDE / Math.max(bw, bh));
    const size = [Math.max(1, roundHalfEven(bw * scale)), Math.max(1, roundHalfEven(bh * scale))];
    const region = scale === 1 ? cropLA(src, box) : resizeLA(src, size[0], size[1], box);
    let smooth = image(region.w, region.h, composite(region, flat));
    const sigma = sigmaFor(Math.max(src.w, src.h) * scale);
    if (sigma) smooth = gaussian(smooth, sigma);
    // each fine pixel's analysis pixel by np.rint of its centre
    const ix = new Int32Array(region.w), iy = new Int32Array(region.h);
    for (let x = 0; x < region.w; x++) ix[x] = Math.min(w - 1, Math.max(0, roundHalfEven((box[0] + ((x + 0.5) * bw) / region.w) / k - 0.5)));
    for (let y = 0; y < region.h; y++) iy[y] = Math.min(h - 1, Math.max(0, roundHalfEven((box[1] + ((y + 0.5) * bh) / region.h) / k - 0.5)));
    const fine = smooth.d, peak = aboveBackground(fine, how, ix, iy, w);
    if (how.threshold) levels(fine, how.threshold, peak);
    else scaled(fine, 0, peak);
    return anyInk(fine) ? image(region.w, region.h, fine) : ink;
  }

  // The fine image above the analysis copy's background, less the specks it dropped
  // (analysis pixel iy[y] * w + ix[x]), in place; the peak, at least the analysis copy's.
  function aboveBackground(fine, how, ix, iy, w) {
    const { invert, background, dropped } = how, fw = ix.length;
    let peak = how.peak;
    for (let y = 0, i = 0; y < iy.length; y++) {
      for (let x = 0, at = iy[y] * w; x < fw; x++, i++) {
        fine[i] = (invert ? Math.fround(1 - fine[i]) : fine[i]) - background;
        if (dropped !== null && dropped[at + ix[x]]) fine[i] = 0;
        if (fine[i] > peak) peak = fine[i];
      }
    }
    return peak;
  }

  // framing.resize: area averaging to shrink, bilinear to enlarge; clipped to [0, 1].
  function resize(img, factor) {
    const ow = Math.max(1, roundHalfEven(img.w * factor)), oh = Math.max(1, roundHalfEven(img.h * factor));
    const out = resizeFloat(img, ow, oh, factor <= 1 ? "box" : "bilinear");
    scaled(out.d, 0, 1);
    return out;
  }

  // framing.normalize_stroke: thin strokes grown, thick ones thinned to MNIST's width.
  function normalizeStroke(ink, measured) {
    const work = resize(ink, STROKE_SIDE / Math.max(ink.w, ink.h));
    const mask = scratch(Float32Array, work.d.length, false);
    for (let i = 0; i < mask.length; i++) mask[i] = work.d[i] > 0.5 ? 1 : 0;
    if (!anyInk(mask)) return ink;
    const padded = distances(pad(image(work.w, work.h, mask), 1).d, work.w + 2, work.h + 2);
    const inside = scratch(Float64Array, work.w * work.h, false);
    let sum = 0, count = 0;
    for (let y = 0; y < work.h; y++) {
      for (let x = 0; x < work.w; x++) {
        const i = y * work.w + x;
        inside[i] = padded[(y + 1) * (work.w + 2) + x + 1];
        if (mask[i]) {
          sum += inside[i];
          count++;
        }
      }
    }
    const side = Math.max(work.w, work.h), width = 4 * Math.fround(sum / count), target = MNIST_STROKE * side;
    measured.stroke = width / side;
    if (width < 0.75 * target) {
      const radius = (target - width) / (2 * (1 - MNIST_STROKE)), p = Math.ceil(radius) + 1;
      const grown = pad(work, p), ring = pad(image(work.w, work.h, mask), p);
      for (let i = 0; i < ring.d.length; i++) ring.d[i] = 1 - ring.d[i];
      const outside = distances(ring.d, grown.w, grown.h);
      for (let i = 0; i < grown.d.length; i++) grown.d[i] = Math.max(grown.d[i], Math.min(1, Math.max(0, radius + 0.5 - outside[i])));
      return grown;
    }
    if (width > 1.5 * target) {
      const thinned = scratch(Float32Array, work.d.length, false);
      for (let i = 0; i < thinned.length; i++) thinned[i] = Math.min(work.d[i], Math.min(1, Math.max(0, inside[i] - (width - target) / 2 + 0.5)));
      return anyInk(thinned) ? image(work.w, work.h, thinned) : ink;
    }
    return ink;
  }

  // framing.fit_digit: longest side to 20 px, centre of mass at MNIST's centre, in one resampling.
  function fitDigit(ink) {
    if (Math.max(ink.w, ink.h) > STROKE_SIDE) ink = resize(ink, STROKE_SIDE / Math.max(ink.w, ink.h));
    const { w, h } = ink, scale = 20 / Math.max(w, h);
    let total = 0, my = 0, mx = 0;
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        const v = ink.d[i];
        total += v;
        my += v * y;
        mx += v * x;
      }
    }
    const cy = my / total + 0.5, cx = mx / total + 0.5, target = MNIST_CENTRE + 0.5;
    const left = cx - target / scale, top = cy - target / scale;
    const right = cx + (28 - target) / scale, bottom = cy + (28 - target) / scale;
    const reach = Math.ceil(1 / scale) + 2;
    const before = [Math.max(0, reach - Math.floor(top)), Math.max(0, reach - Math.floor(left))];
    const after = [Math.max(0, Math.ceil(bottom) + reach - h), Math.max(0, Math.ceil(right) + reach - w)];
    const padded = image(w + before[1] + after[1], h + before[0] + after[0]);
    for (let y = 0; y < h; y++) padded.d.set(ink.d.subarray(y * w, (y + 1) * w), (y + before[0]) * padded.w + before[1]);
    const box = [left + before[1], top + before[0], right + before[1], bottom + before[0]];
    const out = resizeFloat(padded, 28, 28, scale <= 1 ? "box" : "bilinear", box);
    const clipped = scaled(out.d, 0, 1);
    let peak = 0;
    for (let i = 0; i < 784; i++) peak = Math.max(peak, clipped[i]);
    return scaled(clipped, 0, Math.max(peak, 1e-6));
  }

  // preprocess.prepare for RGBA pixels (a canvas's getImageData, or a decoded PNG):
  // {image: Uint8Array(784), light ink on black; ink: {extent, stroke}} as Ink holds them.
  function prepare(rgba, w, h) {
    releaseScratch(); // the last drawing's arrays are reused
    const src = { w, h, rgba };
    const k = Math.ceil(Math.max(w, h) / ANALYSIS_SIDE);
    const small = k > 1 ? reduce(src, k) : cropLA(src, [0, 0, w, h]);
    const { gray, flat } = flatten(small);
    const [found, how] = findInk(image(small.w, small.h, gray));
    const b = inkBox(found);
    const extent = Math.max(b.bottom - b.top + 1, b.right - b.left + 1) / Math.max(found.w, found.h);
    let ink = crop(k > 1 ? detail(src, k, found, how, flat) : found);
    const measured = {};
    ink = crop(normalizeStroke(ink, measured));
    const fitted = fitDigit(ink);
    const out = new Uint8Array(784);
    for (let i = 0; i < 784; i++) out[i] = Math.min(255, Math.max(0, Math.floor(fitted[i] * 255 + 0.5)));
    return { image: out, ink: { extent, stroke: measured.stroke === undefined ? null : measured.stroke } };
  }

  global.mnistlabPreprocess = { prepare, PrepareError };
})(globalThis);
