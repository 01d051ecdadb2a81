// The page's drawing prepared the way mnistlab.prediction.preprocess prepares a canvas
// export, in the browser: ink from alpha (or dark strokes on a flat background), cleaned up
// on a copy of at most 256 px, the ink's region redone from the full drawing, strokes made
// as wide as MNIST's, fitted into 20x20 and centred by mass in 28x28. Each function below
// names the Python function it ports (prediction/preprocess.py, prediction/framing.py), and
// imaging.js reproduces Pillow's and SciPy's resampling, blur and labelling, so the 28x28
// image is the server's to within a grey level or two (tests/test_web.py measures it). Photos need
// the lighting fit and the server: `prepare` refuses an image whose background is not flat.
"use strict";

(function (global) {
  const { image, roundHalfEven, cropLA, reduce, resizeFloat, resizeLA, median, otsu, gaussian, dilate, label, distances, pad } =
    global.mnistlabImaging; // imaging.js, loaded first
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
    const n = la.w * la.h, gray = new Float32Array(n), alpha = new Float32Array(n);
    const opaque = [];
    for (let i = 0; i < n; i++) {
      gray[i] = Math.fround(la.l[i] * Math.fround(1 / 255));
      alpha[i] = Math.fround(la.a[i] * Math.fround(1 / 255));
      if (alpha[i] > 0.5) opaque.push(gray[i]);
    }
    const share = opaque.length / n;
    if (share === 0) throw new PrepareError("no ink found: the image is fully transparent", "no_ink");
    if (share === 1) return { gray, flat: null };
    const tone = median(opaque);
    const flat = share < 0.5 ? (tone < 0.5 ? 1 : 0) : tone;
    return { gray: composite(gray, alpha, flat), flat };
  }

  function composite(gray, alpha, flat) {
    const out = new Float32Array(gray.length);
    for (let i = 0; i < gray.length; i++) out[i] = Math.fround(gray[i] * alpha[i]) + Math.fround(flat * Math.fround(1 - alpha[i]));
    return out;
  }

  function sigmaFor(side) {
    const sigma = side * BLUR_PER_SIDE;
    return sigma >= 0.5 ? sigma : 0;
  }

  // preprocess._ink: ink strength in [0, 1] on a 0 background, and how it was found.
  function findInk(smooth) {
    const d = smooth.d;
    let background = median(d), lo = Infinity, hi = -Infinity;
    for (const v of d) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (hi - lo < MIN_CONTRAST) throw new PrepareError(BLANK, "no_ink");
    const invert = background - lo > hi - background;
    let s = d;
    if (invert) {
      s = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) s[i] = 1 - d[i];
      background = 1 - background;
    }
    let same = 0;
    for (const v of s) same += v === Math.fround(background); // compared in float32, as NumPy does
    if (same * 2 < s.length) {
      throw new PrepareError("a photo's uneven background needs the server's lighting fit", "photo");
    }
    const bg = Math.fround(background);
    let peak = -Infinity;
    s = Float32Array.from(s);
    for (let i = 0; i < s.length; i++) {
      s[i] -= bg;
      if (s[i] > peak) peak = s[i];
    }
    if (peak < MIN_CONTRAST) throw new PrepareError(BLANK, "no_ink");
    let ink = scaled(s, 0, peak);
    const threshold = otsu(ink);
    let dropped = null;
    if (threshold) [ink, dropped] = despeckle(smooth.w, smooth.h, levels(ink, threshold));
    if (!anyInk(ink)) throw new PrepareError("no ink found: nothing stands out from the background", "no_ink");
    return [image(smooth.w, smooth.h, ink), { invert, background: bg, peak, threshold, dropped }];
  }

  // preprocess._levels (digits): background to 0, the median stroke to full strength.
  function levels(ink, threshold) {
    const strokes = new Float32Array(ink.length);
    let n = 0;
    for (let i = 0; i < ink.length; i++) if (ink[i] > threshold) strokes[n++] = ink[i];
    const floor = threshold * 0.5, level = median(strokes.subarray(0, n));
    return scaled(ink, floor, Math.max(level - floor, 1e-6));
  }

  // clip((a - shift) / by, 0, 1) in float32, a new array.
  function scaled(a, shift, by) {
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = Math.min(1, Math.max(0, Math.fround(Math.fround(a[i] - shift) / by)));
    return out;
  }

  function anyInk(a) {
    for (let i = 0; i < a.length; i++) if (a[i] > 0) return true;
    return false;
  }

  // preprocess._despeckle: drop specks and clutter along the border; also what was dropped.
  function despeckle(w, h, ink) {
    const reach = Math.max(1, roundHalfEven(Math.max(w, h) / 200));
    let near = new Uint8Array(w * h);
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
    const dropped = new Uint8Array(w * h);
    const out = Float32Array.from(ink);
    for (let i = 0; i < w * h; i++) {
      const c = labels[i];
      dropped[i] = c > 0 && !(mass[c] >= 0.02 * total) ? 1 : 0;
      if (dropped[i]) out[i] = 0;
    }
    return [out, dropped];
  }

  function inkBox(img) {
    let top = img.h, bottom = -1, left = img.w, right = -1;
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        if (img.d[y * img.w + x] > 0) {
          top = Math.min(top, y);
          bottom = Math.max(bottom, y);
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    return { top, bottom, left, right };
  }

  // framing.crop: the bounding box of the non-zero pixels.
  function crop(img) {
    const b = inkBox(img), w = b.right - b.left + 1, h = b.bottom - b.top + 1;
    const out = image(w, h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.d[y * w + x] = img.d[(y + b.top) * img.w + x + b.left];
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
    const n = region.w * region.h, third = Math.fround(1 / 255);
    let smooth = image(region.w, region.h);
    for (let i = 0; i < n; i++) {
      const g = Math.fround(region.l[i] * third), a = Math.fround(region.a[i] * third);
      smooth.d[i] = flat === null ? g : Math.fround(g * a) + Math.fround(flat * Math.fround(1 - a));
    }
    const sigma = sigmaFor(Math.max(src.w, src.h) * scale);
    if (sigma) smooth = gaussian(smooth, sigma);
    const fine = smooth.d, background = how.background;
    for (let i = 0; i < n; i++) fine[i] = (how.invert ? Math.fround(1 - fine[i]) : fine[i]) - background;
    if (how.dropped) {
      const ix = new Int32Array(region.w); // each fine pixel's analysis pixel (np.rint)
      for (let x = 0; x < region.w; x++) {
        ix[x] = Math.min(w - 1, Math.max(0, roundHalfEven((box[0] + ((x + 0.5) * bw) / region.w) / k - 0.5)));
      }
      for (let y = 0; y < region.h; y++) {
        const iy = Math.min(h - 1, Math.max(0, roundHalfEven((box[1] + ((y + 0.5) * bh) / region.h) / k - 0.5)));
        for (let x = 0; x < region.w; x++) if (how.dropped[iy * w + ix[x]]) fine[y * region.w + x] = 0;
      }
    }
    let peak = how.peak;
    for (const v of fine) peak = Math.max(peak, v);
    let out = scaled(fine, 0, peak);
    if (how.threshold) out = levels(out, how.threshold);
    return anyInk(out) ? image(region.w, region.h, out) : ink;
  }

  // framing.resize: area averaging to shrink, bilinear to enlarge; clipped to [0, 1].
  function resize(img, factor) {
    const ow = Math.max(1, roundHalfEven(img.w * factor)), oh = Math.max(1, roundHalfEven(img.h * factor));
    const out = resizeFloat(img, ow, oh, factor <= 1 ? "box" : "bilinear");
    for (let i = 0; i < out.d.length; i++) out.d[i] = Math.min(1, Math.max(0, out.d[i]));
    return out;
  }

  // framing.normalize_stroke: thin strokes grown, thick ones thinned to MNIST's width.
  function normalizeStroke(ink, measured) {
    const work = resize(ink, STROKE_SIDE / Math.max(ink.w, ink.h));
    const mask = new Float32Array(work.d.length);
    for (let i = 0; i < mask.length; i++) mask[i] = work.d[i] > 0.5 ? 1 : 0;
    if (!anyInk(mask)) return ink;
    const padded = distances(pad(image(work.w, work.h, mask), 1).d, work.w + 2, work.h + 2);
    const inside = new Float64Array(work.w * work.h);
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
      const thinned = new Float32Array(work.d.length);
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
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = Math.fround(ink.d[y * w + x]);
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
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) padded.d[(y + before[0]) * padded.w + x + before[1]] = Math.fround(ink.d[y * w + x]);
    const box = [left + before[1], top + before[0], right + before[1], bottom + before[0]];
    const out = resizeFloat(padded, 28, 28, scale <= 1 ? "box" : "bilinear", box);
    let peak = 0;
    const clipped = out.d;
    for (let i = 0; i < 784; i++) clipped[i] = Math.min(1, Math.max(0, clipped[i]));
    for (const v of clipped) peak = Math.max(peak, v);
    return scaled(clipped, 0, Math.max(peak, 1e-6));
  }

  // preprocess.prepare for RGBA pixels (a canvas's getImageData, or a decoded PNG):
  // {image: Uint8Array(784), light ink on black; ink: {extent, stroke}} as Ink holds them.
  function prepare(rgba, w, h) {
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
