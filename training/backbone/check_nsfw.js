#!/usr/bin/env node
// Checks models/nsfw-mobilenetv2 (training/export_nsfw.py) against nsfwjs itself, on tfjs's
// pure-JS CPU backend.
//
//   node training/backbone/check_nsfw.js [tolerance]
//
// nsfwjs.load('MobileNetV2') (the package's bundled model) runs the photos that export_nsfw.py
// wrote to training/work/nsfw/check/:
// - network: nsfwjs's model on the same preprocessed pixels as PyTorch and model.onnx
//   (onnxruntime-node), so only the networks are compared;
// - preprocessing: nsfwjs's own steps (div 255, resizeBilinear with alignCorners) on the decoded
//   photos against export_nsfw.py's pixels, and nsfwjs.classify() on the decoded photos
//   against model.onnx on export_nsfw.py's pixels.
// Prints the max abs differences of the five probabilities; exits 1 if one exceeds the
// tolerance (default 1e-3).
'use strict';
const fs = require('fs');
const path = require('path');
const { work, req, readF32, maxAbsDiff } = require('./tfjs_io');

const tf = req('@tensorflow/tfjs');
const nsfwjs = req('nsfwjs');
const ort = req('onnxruntime-node');

const tol = parseFloat(process.argv[2] || '1e-3');
const checkDir = path.join(work, 'nsfw', 'check');
const repo = path.resolve(work, '..', '..');

function nhwcToNchw(a, [n, h, w, c]) {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++)
    out[((b * c + ch) * h + y) * w + x] = a[((b * h + y) * w + x) * c + ch];
  return out;
}

async function main() {
  await tf.setBackend('cpu');
  const meta = JSON.parse(fs.readFileSync(path.join(checkDir, 'meta.json'), 'utf8'));
  const [n, size] = meta.input_shape;
  const model = await nsfwjs.load('MobileNetV2', { size });
  const pixels = readF32(path.join(checkDir, 'input_nhwc.f32'));

  // Network: the same pixels through nsfwjs's model, PyTorch and ONNX Runtime.
  const t0 = Date.now();
  const tfProbs = await model.model.predict(tf.tensor(pixels, meta.input_shape)).data();
  const ms = Date.now() - t0;
  const torchProbs = readF32(path.join(checkDir, 'torch_probs.f32'));
  const sess = await ort.InferenceSession.create(path.join(repo, meta.onnx));
  const out = await sess.run({ pixel_values: new ort.Tensor('float32', nhwcToNchw(pixels, meta.input_shape), [n, 3, size, size]) });
  const onnxProbs = out.probs.data;

  // Preprocessing: nsfwjs's own, from the decoded photos.
  const rgb = fs.readFileSync(path.join(checkDir, 'rgb.u8'));
  let off = 0, dPix = 0;
  const classified = new Float32Array(n * 5);
  for (let i = 0; i < n; i++) {
    const shape = meta.rgb_shapes[i];
    const len = shape[0] * shape[1] * shape[2];
    const img = tf.tensor3d(Int32Array.from(rgb.subarray(off, off + len)), shape, 'int32');
    off += len;
    // As NSFWJS.infer() does before its model.
    const mine = tf.image.resizeBilinear(img.toFloat().div(tf.scalar(255)), [size, size], true);
    dPix = Math.max(dPix, maxAbsDiff(await mine.data(), pixels.subarray(i * size * size * 3, (i + 1) * size * size * 3)));
    for (const { className, probability } of await model.classify(img, 5))
      classified[i * 5 + meta.classes.indexOf(className.toLowerCase())] = probability;
  }

  console.log(`tfjs ${tf.version.tfjs} (${tf.getBackend()}), nsfwjs MobileNetV2: ${n} photos in ${ms} ms`);
  const rows = [
    ['network: nsfwjs vs pytorch', maxAbsDiff(tfProbs, torchProbs)],
    ['network: nsfwjs vs model.onnx (onnxruntime-node)', maxAbsDiff(tfProbs, onnxProbs)],
    ['preprocessing: nsfwjs infer() pixels vs export_nsfw.py', dPix],
    ['whole: nsfwjs.classify(photo) vs model.onnx(export_nsfw.py pixels)', maxAbsDiff(classified, onnxProbs)],
  ];
  let ok = true;
  for (const [what, d] of rows) {
    ok = ok && d <= tol;
    console.log(`${what}: max abs diff ${d.toExponential(3)} -> ${d <= tol ? 'OK' : 'FAIL'} (tol ${tol})`);
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
