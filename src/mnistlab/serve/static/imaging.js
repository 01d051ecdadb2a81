// Pillow's, SciPy's and OpenCV's operations that preprocess.js needs, ported to plain JS with
// their rounding (Image.reduce and resize with a box, premultiplied alpha, 8-bit fixed-point
// weights; gaussian_filter, label, the exact distance transform, Otsu's threshold), so that
// the browser's 28x28 image is the server's. Images are {w, h, d: Float32Array} (NumPy's
// float32), 8-bit grey and alpha {w, h, l, a}, a drawing {w, h, rgba}.
"use strict";

(function (global) {
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

  global.mnistlabImaging = { image, roundHalfEven, cropLA, reduce, resizeFloat, resizeLA, median, otsu, gaussian, dilate, label, distances, pad };
})(globalThis);
