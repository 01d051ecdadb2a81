// The page's drawing prepared the way mnistlab.prediction.preprocess prepares a canvas
// export, in the browser: ink from alpha (or dark strokes on a flat background), cleaned up
// on a copy of at most 256 px, the ink's region redone from the full drawing, strokes made
// as wide as MNIST's, fitted into 20x20 and centred by mass in 28x28. Each function below
// names the Python function it ports (prediction/preprocess.py, prediction/framing.py), and
// Pillow's and SciPy's resampling, blur and labelling are reproduced, so the 28x28 image is
// the server's to within a grey level or two (tests/test_web.py measures it). Photos need
// the lighting fit and the server: `prepare` refuses an image whose background is not flat.
"use strict";

(function (global) {
  const ANALYSIS_SIDE = 256, DETAIL_SIDE = 400, BLUR_PER_SIDE = 0.001, MIN_CONTRAST = 0.1;
  const MNIST_STROKE = 0.135, STROKE_SIDE = 200, MNIST_CENTRE = 14.0;

  class PrepareError extends Error {
    constructor(message, reason) {
      super(message);
      this.reason = reason; // "no_ink": nothing drawn; "photo": needs the server's lighting fit
    }
  }
  const BLANK = "no ink found: the image is blank (draw or upload a digit)";

  // ── images: {w, h, d: Float32Array} in [0, 1] (NumPy's float32); 8-bit grey and alpha:
  // {w, h, l, a} ───────────────────────────────────────────────────────────────────────
  const image = (w, h, d) => ({ w, h, d: d || new Float32Array(w * h) });

  // Python's round(): halves to even.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // images.gray_image + Image.convert("LA") of a box of the RGBA pixels (a drawing {w, h,
  // rgba}): ITU-R 601-2 luma with Pillow's rounding, and alpha. Only the pixels a step
  // reads are converted.
  const luma = (rgba, p) => (rgba[p] * 19595 + rgba[p + 1] * 38470 + rgba[p + 2] * 7471 + 0x8000) >>> 16;

  function cropLA(src, [x0, y0, x1, y1]) {
    const w = x1 - x0, h = y1 - y0, l = new Uint8Array(w * h), a = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = 4 * ((y + y0) * src.w + x + x0);
        l[y * w + x] = luma(src.rgba, p);
        a[y * w + x] = src.rgba[p + 3];
      }
    }
    return { w, h, l, a };
  }

  // Pillow's LA -> La (grey premultiplied by alpha) and back, as Image.reduce and resize do.
  function premultiply(la) {
    const l = new Uint8Array(la.l.length);
    for (let i = 0; i < l.length; i++) {
      const t = la.l[i] * la.a[i] + 128;
      l[i] = ((t >> 8) + t) >> 8;
    }
    return { ...la, l };
  }
  function unpremultiply(la) {
    const l = new Uint8Array(la.l.length);
    for (let i = 0; i < l.length; i++) {
      const a = la.a[i];
      l[i] = a === 255 || a === 0 ? la.l[i] : Math.min(255, Math.floor((255 * la.l[i]) / a));
    }
    return { ...la, l };
  }

  // Image.reduce(k) of an LA image: k x k block means of La (premultiplied as Pillow's
  // LA -> La does), the last blocks partial, then back to LA.
  function reduce(src, k) {
    const w = Math.ceil(src.w / k), h = Math.ceil(src.h / k), rgba = src.rgba;
    const out = { w, h, l: new Uint8Array(w * h), a: new Uint8Array(w * h) };
    for (let y = 0; y < h; y++) {
      const y1 = Math.min(src.h, (y + 1) * k);
      for (let x = 0; x < w; x++) {
        const x1 = Math.min(src.w, (x + 1) * k);
        let sl = 0, sa = 0;
        for (let yy = y * k; yy < y1; yy++) {
          for (let i = yy * src.w + x * k, end = yy * src.w + x1; i < end; i++) {
            const a = rgba[4 * i + 3];
            if (a === 0) continue;
            const t = luma(rgba, 4 * i) * a + 128;
            sl += ((t >> 8) + t) >> 8;
            sa += a;
          }
        }
        const n = (y1 - y * k) * (x1 - x * k), mult = Math.trunc((1 / n) * 2 ** 24), amend = n >> 1;
        out.l[y * w + x] = Math.floor(((sl + amend) * mult) / 2 ** 24);
        out.a[y * w + x] = Math.floor(((sa + amend) * mult) / 2 ** 24);
      }
    }
    return unpremultiply(out);
  }

  // Pillow's resampling (Resample.c): separable, horizontal pass first, box in input pixels.
  const FILTERS = {
    box: [0.5, (x) => (x > -0.5 && x <= 0.5 ? 1 : 0)],
    bilinear: [1.0, (x) => Math.max(0, 1 - Math.abs(x))],
  };

  function coefficients(inSize, in0, in1, outSize, name, eight) {
    const [support0, filter] = FILTERS[name];
    const scale = (in1 - in0) / outSize, filterscale = Math.max(scale, 1);
    const support = support0 * filterscale, ss = 1 / filterscale;
    const bounds = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = in0 + (xx + 0.5) * scale;
      const xmin = Math.max(0, Math.trunc(center - support + 0.5));
      const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
      const k = new Float64Array(Math.max(0, xmax));
      let ww = 0;
      for (let x = 0; x < xmax; x++) ww += k[x] = filter((x + xmin - center + 0.5) * ss);
      if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
      if (eight) for (let x = 0; x < xmax; x++) k[x] = Math.trunc(k[x] * 2 ** 22 + (k[x] < 0 ? -0.5 : 0.5));
      bounds.push([xmin, k]);
    }
    return bounds;
  }

  // One pass of `outSize` outputs per line, over `lines` lines of `src`: input pixel i of
  // line l at l * lineStep + i * step; outputs stored by line (horizontal) or by output.
  function pass(src, lines, lineStep, step, outSize, coeffs, byOutput, eight) {
    const out = new Float32Array(lines * outSize);
    for (let o = 0; o < outSize; o++) {
      const [xmin, k] = coeffs[o], n = k.length;
      for (let line = 0; line < lines; line++) {
        let s = 0, at = line * lineStep + xmin * step;
        for (let x = 0; x < n; x++, at += step) s += src[at] * k[x];
        // 8-bit: the fixed-point sum rounded and clipped to 0..255; else float32
        out[byOutput ? o * lines + line : line * outSize + o] = eight
          ? Math.min(255, Math.max(0, Math.floor((s + 2097152) / 4194304)))
          : s;
      }
    }
    return out;
  }

  // Image.resize(size, filter, box) of one plane: `eight` for 8-bit bands (22-bit
  // fixed-point weights, integers after each pass), else float32 ("F" mode). As Pillow does,
  // the horizontal pass only covers the rows the vertical one reads.
  function resamplePlane(d, w, h, ow, oh, box, name, eight) {
    const horizontal = ow !== w || box[0] !== 0 || box[2] !== w;
    const vertical = oh !== h || box[1] !== 0 || box[3] !== h;
    const cv = coefficients(h, box[1], box[3], oh, name, eight);
    const first = vertical ? cv[0][0] : 0;
    const last = vertical ? cv[oh - 1][0] + cv[oh - 1][1].length : h;
    let src = d.subarray(first * w, last * w);
    if (horizontal) {
      const ch = coefficients(w, box[0], box[2], ow, name, eight);
      src = pass(src, last - first, w, 1, ow, ch, false, eight);
    }
    if (!vertical) return src;
    const shifted = cv.map(([ymin, k]) => [ymin - first, k]);
    return pass(src, ow, 1, ow, oh, shifted, true, eight);
  }

  function resizeFloat(img, ow, oh, name, box) {
    box = box || [0, 0, img.w, img.h];
    if (ow === img.w && oh === img.h && box[0] === 0 && box[1] === 0 && box[2] === img.w && box[3] === img.h) {
      return image(ow, oh, Float32Array.from(img.d));
    }
    return image(ow, oh, resamplePlane(img.d, img.w, img.h, ow, oh, box, name, false));
  }

  // Image.resize of an LA image: resampled premultiplied (La), then back to LA.
  function resizeLA(src, ow, oh, box) {
    // Only the box and what the filter reads around it (half a step each side) is premultiplied.
    const m = Math.ceil(0.5 * Math.max((box[2] - box[0]) / ow, (box[3] - box[1]) / oh)) + 2;
    const x0 = Math.max(0, Math.floor(box[0]) - m), y0 = Math.max(0, Math.floor(box[1]) - m);
    const part = cropLA(src, [x0, y0, Math.min(src.w, Math.ceil(box[2]) + m), Math.min(src.h, Math.ceil(box[3]) + m)]);
    const pre = premultiply(part), inside = [box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0];
    // resampled as float32 arrays (the values stay integers): one array type for `pass`
    const l = resamplePlane(Float32Array.from(pre.l), part.w, part.h, ow, oh, inside, "box", true);
    const a = resamplePlane(Float32Array.from(pre.a), part.w, part.h, ow, oh, inside, "box", true);
    return unpremultiply({ w: ow, h: oh, l: Uint8Array.from(l), a: Uint8Array.from(a) });
  }

  // ── statistics ───────────────────────────────────────────────────────────────────────
  function median(values) {
    const s = Float32Array.from(values), n = s.length, upper = select(s, n >> 1);
    if (n % 2) return upper;
    let lower = -Infinity; // the largest value below the middle one
    for (let i = 0; i < n >> 1; i++) lower = Math.max(lower, s[i]);
    return (lower + upper) / 2;
  }

  // The k-th smallest value (Hoare's quickselect); leaves smaller ones before index k.
  function select(a, k) {
    let lo = 0, hi = a.length - 1;
    while (lo < hi) {
      const pivot = a[(lo + hi) >> 1];
      let i = lo, j = hi;
      while (i <= j) {
        while (a[i] < pivot) i++;
        while (a[j] > pivot) j--;
        if (i <= j) {
          const t = a[i];
          a[i++] = a[j];
          a[j--] = t;
        }
      }
      if (k <= j) hi = j;
      else if (k >= i) lo = i;
      else break;
    }
    return a[k];
  }

  // preprocess._otsu: the split of 256 bins that best separates two classes.
  function otsu(values) {
    const hist = new Float64Array(256);
    for (const v of values) hist[Math.min(255, Math.floor(Math.fround(v * 256)))]++;
    const n = values.length;
    let w0 = 0, m0 = 0, mTotal = 0, best = -1, at = 0;
    for (let i = 0; i < 256; i++) mTotal += (hist[i] / n) * ((i + 0.5) / 256);
    for (let i = 0; i < 256; i++) {
      w0 += hist[i] / n;
      m0 += (hist[i] / n) * ((i + 0.5) / 256);
      const between = (mTotal * w0 - m0) ** 2 / (w0 * (1 - w0));
      if (between > best) {
        best = between; // NaN (w0 0 or 1) never wins, as with np.nanargmax
        at = i;
      }
    }
    return (at + 0.5) / 256;
  }

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

  // scipy.ndimage.gaussian_filter (truncate 4, mode "reflect"), along rows then columns.
  function gaussian(img, sigma) {
    const radius = Math.trunc(4 * sigma + 0.5), taps = 2 * radius + 1, kernel = new Float64Array(taps);
    let sum = 0;
    for (let x = -radius; x <= radius; x++) sum += kernel[x + radius] = Math.exp((-0.5 * x * x) / (sigma * sigma));
    for (let i = 0; i < taps; i++) kernel[i] /= sum;
    // index i + j for j in -radius..radius, reflected at the edges (d c b a | a b c d)
    const reflected = (n) => {
      const at = new Int32Array(n * taps);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < taps; j++) {
          let k = i + j - radius;
          while (k < 0 || k >= n) k = k < 0 ? -k - 1 : 2 * n - k - 1;
          at[i * taps + j] = k;
        }
      }
      return at;
    };
    const { w, h } = img, rows = reflected(h), cols = reflected(w), d = img.d;
    const down = new Float32Array(w * h), out = new Float32Array(w * h), offsets = new Int32Array(taps);
    for (let y = 0; y < h; y++) {
      for (let j = 0; j < taps; j++) offsets[j] = rows[y * taps + j] * w;
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let j = 0; j < taps; j++) s += kernel[j] * d[offsets[j] + x];
        down[y * w + x] = s;
      }
    }
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) {
        let s = 0;
        if (x >= radius && x < w - radius) {
          for (let j = 0, at = row + x - radius; j < taps; j++, at++) s += kernel[j] * down[at];
        } else {
          for (let j = 0; j < taps; j++) s += kernel[j] * down[row + cols[x * taps + j]];
        }
        out[row + x] = s;
      }
    }
    return image(w, h, out);
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

  function dilate(mask, w, h) {
    const out = Uint8Array.from(mask);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (mask[i]) continue;
        out[i] = (y > 0 && mask[i - w]) || (y < h - 1 && mask[i + w]) || (x > 0 && mask[i - 1]) || (x < w - 1 && mask[i + 1]) ? 1 : 0;
      }
    }
    return out;
  }

  // scipy.ndimage.label with a 3x3 structure (8-connected components).
  function label(mask, w, h) {
    const labels = new Int32Array(w * h), stack = [];
    let n = 0;
    for (let start = 0; start < w * h; start++) {
      if (!mask[start] || labels[start]) continue;
      labels[start] = ++n;
      stack.push(start);
      while (stack.length) {
        const i = stack.pop(), y = Math.floor(i / w), x = i % w;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy, xx = x + dx, j = yy * w + xx;
            if (yy >= 0 && yy < h && xx >= 0 && xx < w && mask[j] && !labels[j]) {
              labels[j] = n;
              stack.push(j);
            }
          }
        }
      }
    }
    return [labels, n];
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

  // framing.distances (OpenCV's exact transform): each set pixel's Euclidean distance to
  // the nearest unset one; Felzenszwalb and Huttenlocher's two passes of lower envelopes.
  function distances(mask, w, h) {
    const INF = 1e20, f = new Float64Array(w * h), n = Math.max(w, h);
    for (let i = 0; i < w * h; i++) f[i] = mask[i] ? INF : 0;
    const v = new Int32Array(n), z = new Float64Array(n + 1), src = new Float64Array(n);
    // one line of `count` values, `stride` apart from `start`, replaced by its squared distances
    const line = (start, stride, count) => {
      for (let q = 0; q < count; q++) src[q] = f[start + q * stride];
      let k = 0;
      v[0] = 0;
      z[0] = -INF;
      z[1] = INF;
      for (let q = 1; q < count; q++) {
        let s;
        for (;;) {
          s = (src[q] + q * q - (src[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
          if (s > z[k]) break;
          k--;
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INF;
      }
      k = 0;
      for (let q = 0; q < count; q++) {
        while (z[k + 1] < q) k++;
        f[start + q * stride] = (q - v[k]) ** 2 + src[v[k]];
      }
    };
    for (let x = 0; x < w; x++) line(x, w, h);
    for (let y = 0; y < h; y++) line(y * w, 1, w);
    const out = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) out[i] = Math.sqrt(f[i]);
    return out;
  }

  function pad(img, p, value = 0) {
    const out = image(img.w + 2 * p, img.h + 2 * p);
    if (value) out.d.fill(value);
    for (let y = 0; y < img.h; y++) for (let x = 0; x < img.w; x++) out.d[(y + p) * out.w + x + p] = img.d[y * img.w + x];
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
