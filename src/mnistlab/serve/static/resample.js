// Pillow's resampling, ported to plain JS with its rounding: Image.convert("LA"), Image.reduce
// and Image.resize with a box (premultiplied alpha, 8-bit fixed-point weights, or float32 for
// "F" images), so that preprocess.js's 28x28 image is the server's. Loaded after imaging.js,
// whose namespace it adds to. Grey and alpha images are {w, h, l, a} (Uint8Array), a drawing
// {w, h, rgba}. Loops are flat over typed arrays, in memory order: a drawing is answered while
// the pen moves.
"use strict";

(function (global) {
  const { scratch, image } = global.mnistlabImaging;

  // images.gray_image + Image.convert("LA") of a box of the RGBA pixels: ITU-R 601-2 luma
  // with Pillow's rounding, and alpha. Only the pixels a step reads are converted.
  const luma = (rgba, p) => (rgba[p] * 19595 + rgba[p + 1] * 38470 + rgba[p + 2] * 7471 + 0x8000) >>> 16;

  function cropLA(src, [x0, y0, x1, y1]) {
    const w = x1 - x0, h = y1 - y0, l = scratch(Uint8Array, w * h, false), a = scratch(Uint8Array, w * h, false), rgba = src.rgba;
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0, p = 4 * ((y + y0) * src.w + x0); x < w; x++, i++, p += 4) {
        l[i] = luma(rgba, p);
        a[i] = rgba[p + 3];
      }
    }
    return { w, h, l, a };
  }

  // Pillow's LA -> La (grey premultiplied by alpha) and back, as Image.reduce and resize do.
  const premultiplied = (l, a) => {
    const t = l * a + 128;
    return ((t >> 8) + t) >> 8;
  };

  function unpremultiply(la) {
    const l = la.l, a = la.a;
    for (let i = 0; i < l.length; i++) if (a[i] !== 255 && a[i] !== 0) l[i] = Math.min(255, Math.floor((255 * l[i]) / a[i]));
    return la;
  }

  // The RGBA pixels as 32-bit words, to find the all-zero ones a word at a time (a copy
  // where the bytes do not start at a multiple of 4).
  function pixelWords(rgba) {
    const bytes = rgba.byteOffset % 4 ? rgba.slice() : rgba;
    return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  }

  // The first word from i on, before end, that is not all zero bits (a pixel of transparent
  // black, or a float32 +0: it adds nothing, and it is most of a drawing); end if none. Four
  // words at a time while they are.
  function nextInk(words, i, end) {
    while (i + 4 <= end && (words[i] | words[i + 1] | words[i + 2] | words[i + 3]) === 0) i += 4;
    while (i < end && words[i] === 0) i++;
    return i;
  }

  // Image.reduce(k) of an LA image: k x k block means of La, the last blocks partial, then
  // back to LA. Each output row sums its k input rows into one row of block sums.
  function reduce(src, k) {
    const w = Math.ceil(src.w / k), h = Math.ceil(src.h / k), rgba = src.rgba, words = pixelWords(rgba);
    const l = scratch(Uint8Array, w * h, false), a = scratch(Uint8Array, w * h, false);
    const sl = new Int32Array(w), sa = new Int32Array(w);
    // the last pixel's La (transparent black's to start with: a background or a stroke repeats one)
    let word = 0, grey = 0, alpha = 0;
    for (let y = 0; y < h; y++) {
      const y1 = Math.min(src.h, (y + 1) * k);
      sl.fill(0);
      sa.fill(0);
      for (let yy = y * k; yy < y1; yy++) {
        const row = yy * src.w, end = row + src.w;
        for (let i = nextInk(words, row, end); i < end; i = nextInk(words, i, end)) {
          const x = Math.floor((i - row) / k), next = Math.min(row + (x + 1) * k, end); // i's block
          let bl = 0, ba = 0;
          for (; i < next; i++) {
            if (words[i] !== word) [word, grey, alpha] = [words[i], premultiplied(luma(rgba, 4 * i), rgba[4 * i + 3]), rgba[4 * i + 3]];
            bl += grey;
            ba += alpha;
          }
          sl[x] += bl;
          sa[x] += ba;
        }
      }
      for (let x = 0; x < w; x++) {
        const n = (y1 - y * k) * (Math.min(src.w, (x + 1) * k) - x * k);
        const mult = Math.trunc((1 / n) * 2 ** 24), amend = n >> 1;
        l[y * w + x] = Math.floor(((sl[x] + amend) * mult) / 2 ** 24);
        a[y * w + x] = Math.floor(((sa[x] + amend) * mult) / 2 ** 24);
      }
    }
    return unpremultiply({ w, h, l, a });
  }

  // Pillow's resampling (Resample.c): separable, horizontal pass first, box in input pixels.
  const FILTERS = {
    box: [0.5, (x) => (x > -0.5 && x <= 0.5 ? 1 : 0)],
    bilinear: [1.0, (x) => Math.max(0, 1 - Math.abs(x))],
  };

  // Each output's first input pixel and its weights: {first: Int32Array, count: Int32Array,
  // weights: Float64Array, taps}, output o's weights at o * taps.
  function coefficients(inSize, in0, in1, outSize, name, eight) {
    const [support0, filter] = FILTERS[name];
    const scale = (in1 - in0) / outSize, filterscale = Math.max(scale, 1);
    const support = support0 * filterscale, ss = 1 / filterscale, taps = Math.ceil(support) * 2 + 1;
    const first = new Int32Array(outSize), count = new Int32Array(outSize), weights = new Float64Array(outSize * taps);
    for (let o = 0; o < outSize; o++) {
      const center = in0 + (o + 0.5) * scale;
      const xmin = Math.max(0, Math.trunc(center - support + 0.5));
      const n = Math.max(0, Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin);
      const k = weights.subarray(o * taps, o * taps + n);
      let ww = 0;
      for (let x = 0; x < n; x++) ww += k[x] = filter((x + xmin - center + 0.5) * ss);
      if (ww !== 0) for (let x = 0; x < n; x++) k[x] /= ww;
      if (eight) for (let x = 0; x < n; x++) k[x] = Math.trunc(k[x] * 2 ** 22 + (k[x] < 0 ? -0.5 : 0.5));
      first[o] = xmin;
      count[o] = n;
    }
    return { first, count, weights, taps };
  }

  // 8-bit passes: the 22-bit fixed-point sum (an integer, well within 32 bits) rounded and
  // clipped to 0..255; else float32.
  const store = (s, eight) => (eight ? Math.min(255, Math.max(0, (s + 2097152) >> 22)) : s);

  // Along rows: `lines` rows of w pixels to rows of c.first.length pixels; a pixel is one
  // value, or two (grey and alpha, side by side: their sums share the weights' reads). Only
  // the outputs that reach a run of non-zero pixels are summed, the others staying 0 (a sum
  // of zeros: most of a drawing). Returns them and, for the vertical pass, the runs of
  // outputs summed: line L's as [start, end) pairs in runs[ends[L]..ends[L + 1]).
  function horizontalPass(src, w, lines, c, eight, two) {
    const { first, count, weights, taps } = c, ow = first.length, values = two ? 2 : 1;
    const out = scratch(Float32Array, lines * ow * values), runs = [], ends = new Int32Array(lines + 1);
    const bits = new Int32Array(src.buffer, src.byteOffset, src.length); // a -0 is summed, as any value
    for (let line = 0; line < lines; line++) {
      const from = line * w * values, to = from + w * values;
      for (let x = 0, o = 0; ; ) {
        x = Math.floor((nextInk(bits, from + x * values, to) - from) / values);
        if (x === w) break;
        const end = nextBlank(bits, from, x, w, values); // the run of non-zero pixels [x, end)
        while (o < ow && first[o] + count[o] <= x) o++;
        const start = o;
        for (; o < ow && first[o] < end; o++) {
          const k = o * taps, n = count[o], i = (line * ow + o) * values;
          if (two) {
            let s = 0, t = 0;
            for (let j = 0, at = 2 * (line * w + first[o]); j < n; j++, at += 2) {
              s += src[at] * weights[k + j];
              t += src[at + 1] * weights[k + j];
            }
            out[i] = store(s, eight);
            out[i + 1] = store(t, eight);
          } else {
            let s = 0;
            for (let j = 0, at = line * w + first[o]; j < n; j++) s += src[at + j] * weights[k + j];
            out[i] = store(s, eight);
          }
        }
        if (start < o && runs.length > ends[line] && runs[runs.length - 1] === start) runs[runs.length - 1] = o;
        else if (start < o) runs.push(start, o);
        x = end;
      }
      ends[line + 1] = runs.length;
    }
    return { out, runs, ends };
  }

  // The first pixel from x on, in a line of w pixels of `values` words from word `from`, whose
  // words are all zero bits; w if none.
  function nextBlank(bits, from, x, w, values) {
    for (let i = from + x * values; x < w; x++, i += values) if (bits[i] === 0 && (values === 1 || bits[i + 1] === 0)) return x;
    return w;
  }

  // Every pixel of `lines` lines of w as one run, where there is no horizontal pass.
  function wholeLines(out, lines, w) {
    const runs = [], ends = new Int32Array(lines + 1);
    for (let line = 0; line < lines; line++) ends[line + 1] = runs.push(0, w);
    return { out, runs, ends };
  }

  // Along columns: rows of w pixels (`values` each) to c.first.length rows, each the weighted
  // sum of rows in the weights' order (the same sums as pixel by pixel), in a float64 row.
  // Each row adds only its runs (the rest is 0), and only the stretch they reach is stored.
  function verticalPass({ out: src, runs, ends }, w, values, c, eight) {
    const { first, count, weights, taps } = c, oh = first.length, out = scratch(Float32Array, oh * w * values);
    const sum = scratch(Float64Array, w * values);
    for (let o = 0; o < oh; o++) {
      let from = w * values, to = 0;
      for (let y = 0; y < count[o]; y++) {
        const k = weights[o * taps + y], row = first[o] + y, at = row * w * values;
        for (let r = ends[row]; r < ends[row + 1]; r += 2) {
          const x0 = runs[r] * values, x1 = runs[r + 1] * values;
          for (let x = x0; x < x1; x++) sum[x] += src[at + x] * k;
          from = Math.min(from, x0);
          to = Math.max(to, x1);
        }
      }
      for (let x = from, i = o * w * values + from; x < to; x++, i++) {
        out[i] = store(sum[x], eight);
        sum[x] = 0;
      }
    }
    return out;
  }

  // Image.resize(size, filter, box) of one plane, or `two` side by side: `eight` for 8-bit
  // bands (integers after each pass), else float32 ("F" mode). As Pillow does, the
  // horizontal pass only covers the rows the vertical one reads.
  function resamplePlane(d, w, h, ow, oh, box, name, eight, two = false) {
    const values = two ? 2 : 1; // per pixel
    const horizontal = ow !== w || box[0] !== 0 || box[2] !== w;
    const vertical = oh !== h || box[1] !== 0 || box[3] !== h;
    const cv = coefficients(h, box[1], box[3], oh, name, eight);
    const first = vertical ? cv.first[0] : 0;
    const last = vertical ? cv.first[oh - 1] + cv.count[oh - 1] : h;
    const src = d.subarray(first * w * values, last * w * values);
    const rows = horizontal
      ? horizontalPass(src, w, last - first, coefficients(w, box[0], box[2], ow, name, eight), eight, two)
      : wholeLines(src, last - first, w);
    if (!vertical) return rows.out;
    for (let o = 0; o < oh; o++) cv.first[o] -= first;
    return verticalPass(rows, ow, values, cv, eight);
  }

  function resizeFloat(img, ow, oh, name, box) {
    box = box || [0, 0, img.w, img.h];
    if (ow === img.w && oh === img.h && box[0] === 0 && box[1] === 0 && box[2] === img.w && box[3] === img.h) {
      const copy = image(ow, oh);
      copy.d.set(img.d);
      return copy;
    }
    return image(ow, oh, resamplePlane(img.d, img.w, img.h, ow, oh, box, name, false));
  }

  // Image.resize of an LA image: resampled premultiplied (La), then back to LA.
  function resizeLA(src, ow, oh, box) {
    // Only the box and what the filter reads around it (half a step each side) is premultiplied.
    const m = Math.ceil(0.5 * Math.max((box[2] - box[0]) / ow, (box[3] - box[1]) / oh)) + 2;
    const x0 = Math.max(0, Math.floor(box[0]) - m), y0 = Math.max(0, Math.floor(box[1]) - m);
    const x1 = Math.min(src.w, Math.ceil(box[2]) + m), y1 = Math.min(src.h, Math.ceil(box[3]) + m);
    // La side by side, as float32 (the values stay integers): one array type for the passes
    const w = x1 - x0, h = y1 - y0, la = scratch(Float32Array, 2 * w * h), rgba = src.rgba, words = pixelWords(rgba);
    for (let y = 0; y < h; y++) {
      const row = (y + y0) * src.w + x0, end = row + w;
      for (let q = nextInk(words, row, end); q < end; q = nextInk(words, q + 1, end)) {
        const i = 2 * (y * w + q - row);
        la[i] = premultiplied(luma(rgba, 4 * q), rgba[4 * q + 3]);
        la[i + 1] = rgba[4 * q + 3];
      }
    }
    const inside = [box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0];
    const both = resamplePlane(la, w, h, ow, oh, inside, "box", true, true);
    const l = scratch(Uint8Array, ow * oh, false), a = scratch(Uint8Array, ow * oh, false);
    for (let i = 0; i < ow * oh; i++) {
      l[i] = both[2 * i];
      a[i] = both[2 * i + 1];
    }
    return unpremultiply({ w: ow, h: oh, l, a });
  }

  Object.assign(global.mnistlabImaging, { cropLA, reduce, resizeFloat, resizeLA });
})(globalThis);
