// SciPy's, NumPy's and OpenCV's operations that preprocess.js needs, ported to plain JS with
// their rounding (gaussian_filter, label, the exact distance transform, median, Otsu's
// threshold), so that the browser's 28x28 image is the server's; Pillow's resampling is in
// resample.js. Images are {w, h, d: Float32Array} (NumPy's float32). Loops are flat over
// typed arrays, in memory order: a drawing is answered while the pen moves.
"use strict";

(function (global) {
  // ── scratch memory ───────────────────────────────────────────────────────────────────
  // A fresh typed array of a few hundred kB costs more than the loop that fills it (the
  // system hands out zeroed pages), and a drawing needs dozens. So one preparation's arrays
  // are carved from buffers kept between drawings: `scratch(Type, n)` is a zeroed
  // `new Type(n)`, and `releaseScratch()`, at the start of each preparation, takes them all
  // back: no array made by scratch may outlive its preparation. A drawing on the page's canvas
  // needs 3 slabs; a large upload's extra ones are given back to the system afterwards.
  // `scratch(Type, n, false)` skips the zeroing, for a caller that writes before it reads.
  const SLAB = 1 << 22, KEPT = 4; // bytes in a slab; slabs kept between preparations
  const slabs = [];
  let slab = 0, used = 0;

  function scratch(Type, n, zeroed = true) {
    const bytes = Math.ceil((n * Type.BYTES_PER_ELEMENT) / 8) * 8;
    for (; ; slab++, used = 0) {
      if (slab === slabs.length) slabs.push(new ArrayBuffer(Math.max(SLAB, bytes)));
      if (used + bytes <= slabs[slab].byteLength) break;
    }
    const out = new Type(slabs[slab], used, n);
    used += bytes;
    return zeroed ? out.fill(0) : out;
  }

  function releaseScratch() {
    const extra = slabs.findIndex((buffer, i) => i >= KEPT || buffer.byteLength > SLAB);
    if (extra >= 0) slabs.length = extra;
    slab = 0;
    used = 0;
  }

  const image = (w, h, d) => ({ w, h, d: d || scratch(Float32Array, w * h) });

  // Python's round(): halves to even.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // ── statistics ───────────────────────────────────────────────────────────────────────
  function median(values) {
    const n = values.length, s = scratch(Float32Array, n, false);
    s.set(values);
    const upper = select(s, n >> 1);
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
    for (let i = 0; i < values.length; i++) hist[Math.min(255, Math.floor(Math.fround(values[i] * 256)))]++;
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

  // index k of a line of n, reflected at the edges (d c b a | a b c d), as SciPy's "reflect"
  function reflect(k, n) {
    while (k < 0 || k >= n) k = k < 0 ? -k - 1 : 2 * n - k - 1;
    return k;
  }

  // scipy.ndimage.gaussian_filter (truncate 4, mode "reflect"): along columns, then rows; each
  // sum in float64 in the kernel's order, stored as float32, as SciPy does.
  function gaussian(img, sigma) {
    const radius = Math.trunc(4 * sigma + 0.5), taps = 2 * radius + 1, kernel = new Float64Array(taps);
    let total = 0;
    for (let x = -radius; x <= radius; x++) total += kernel[x + radius] = Math.exp((-0.5 * x * x) / (sigma * sigma));
    for (let i = 0; i < taps; i++) kernel[i] /= total;
    const { w, h } = img, down = scratch(Float32Array, w * h, false), out = scratch(Float32Array, w * h, false), at = new Int32Array(taps);
    for (let y = 0; y < h; y++) {
      for (let j = 0; j < taps; j++) at[j] = reflect(y + j - radius, h) * w;
      weightedSums(img.d, at, kernel, down, y * w, w);
    }
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let j = 0; j < taps; j++) at[j] = row + j; // the inner pixels' neighbours
      weightedSums(down, at, kernel, out, row + radius, w - 2 * radius);
      for (let x = 0; x < w; x++) {
        if (x === radius && x < w - radius) x = w - radius; // past the inner pixels
        if (x < w) out[row + x] = edgeSum(down, row, w, x, kernel);
      }
    }
    return image(w, h, out);
  }

  // out[start + x] = sum of kernel[j] * src[at[j] + x] for x below count. Written out for 5
  // taps (radius 2: canvases of 500 to 624 px, the page's 560 among them), where the loop
  // over taps takes twice as long.
  function weightedSums(src, at, kernel, out, start, count) {
    if (kernel.length === 5) {
      const [a, b, c, d, e] = at, [k0, k1, k2, k3, k4] = kernel;
      for (let x = 0; x < count; x++) out[start + x] = k0 * src[a + x] + k1 * src[b + x] + k2 * src[c + x] + k3 * src[d + x] + k4 * src[e + x];
      return;
    }
    for (let x = 0; x < count; x++) {
      let s = 0;
      for (let j = 0; j < kernel.length; j++) s += kernel[j] * src[at[j] + x];
      out[start + x] = s;
    }
  }

  // The sum at pixel x of a row of w from `row`, where the kernel reaches past an edge.
  function edgeSum(src, row, w, x, kernel) {
    const radius = (kernel.length - 1) / 2;
    let s = 0;
    for (let j = 0; j < kernel.length; j++) s += kernel[j] * src[row + reflect(x + j - radius, w)];
    return s;
  }

  function dilate(mask, w, h) {
    const out = scratch(Uint8Array, w * h, false);
    out.set(mask);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        if (mask[i]) continue;
        out[i] = (y > 0 && mask[i - w]) || (y < h - 1 && mask[i + w]) || (x > 0 && mask[i - 1]) || (x < w - 1 && mask[i + 1]) ? 1 : 0;
      }
    }
    return out;
  }

  // scipy.ndimage.label with a 3x3 structure (8-connected components), by flood fill.
  function label(mask, w, h) {
    const labels = scratch(Int32Array, w * h), stack = scratch(Int32Array, w * h, false);
    let n = 0;
    for (let start = 0; start < w * h; start++) {
      if (!mask[start] || labels[start]) continue;
      labels[start] = ++n;
      let top = 0;
      stack[top++] = start;
      while (top) {
        const i = stack[--top], y = Math.floor(i / w), x = i - y * w;
        for (let yy = Math.max(0, y - 1); yy <= Math.min(h - 1, y + 1); yy++) {
          for (let xx = Math.max(0, x - 1); xx <= Math.min(w - 1, x + 1); xx++) {
            const j = yy * w + xx;
            if (mask[j] && !labels[j]) {
              labels[j] = n;
              stack[top++] = j;
            }
          }
        }
      }
    }
    return [labels, n];
  }

  // framing.distances (OpenCV's exact transform): each set pixel's Euclidean distance to the
  // nearest unset one. Along columns, the distance to the column's nearest unset pixel by a
  // scan down and one up (exact integers); then along rows, Felzenszwalb and Huttenlocher's
  // lower envelope of the parabolas those squared distances make. An unset pixel's parabola
  // (0 at its place) is the envelope from half a pixel before it to half a pixel after, so no
  // later parabola removes it: the envelope over a run of set pixels is that of the run and
  // the unset pixels beside it, the same sums in the same order, and unset pixels stay 0.
  function distances(mask, w, h) {
    const INF = 1e20, FAR = w + h; // FAR: no unset pixel in the column
    const g = scratch(Int32Array, w * h, false);
    for (let i = 0; i < w * h; i++) g[i] = mask[i] ? (i < w ? FAR : Math.min(FAR, g[i - w] + 1)) : 0;
    for (let i = w * (h - 1) - 1; i >= 0; i--) if (g[i + w] + 1 < g[i]) g[i] = g[i + w] + 1;
    const out = scratch(Float32Array, w * h), f = new Float64Array(w), v = new Int32Array(w), z = new Float64Array(w + 1);
    for (let y = 0, row = 0; y < h; y++, row += w) {
      for (let q = 0; q < w; q++) {
        const d = g[row + q];
        f[q] = d >= FAR ? INF : d * d;
      }
      for (let start = 0; start < w; ) {
        while (start < w && f[start] === 0) start++;
        let end = start; // the run of set pixels [start, end)
        while (end < w && f[end] !== 0) end++;
        if (start < end) envelope(f, Math.max(0, start - 1), Math.min(w, end + 1), v, z, out, row);
        start = end;
      }
    }
    return out;
  }

  // The square root of the lower envelope of the parabolas (x - q)^2 + f[q] for q in
  // [from, to), at x = from..to-1, into out from `at`; v and z are scratch (the parabolas
  // kept, where each starts to win).
  function envelope(f, from, to, v, z, out, at) {
    let k = 0;
    v[0] = from;
    z[0] = -Infinity;
    z[1] = Infinity;
    for (let q = from + 1; q < to; q++) {
      let s;
      for (;;) {
        s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
        if (s > z[k]) break;
        k--;
      }
      k++;
      v[k] = q;
      z[k] = s;
      z[k + 1] = Infinity;
    }
    k = 0;
    for (let q = from; q < to; q++) {
      while (z[k + 1] < q) k++;
      const d = q - v[k];
      out[at + q] = Math.sqrt(d * d + f[v[k]]);
    }
  }

  function pad(img, p) {
    const out = image(img.w + 2 * p, img.h + 2 * p);
    for (let y = 0; y < img.h; y++) out.d.set(img.d.subarray(y * img.w, (y + 1) * img.w), (y + p) * out.w + p);
    return out;
  }

  global.mnistlabImaging = { scratch, releaseScratch, image, roundHalfEven, median, otsu, gaussian, dilate, label, distances, pad };
})(globalThis);
