#!/usr/bin/env node
// Checks the PyTorch/ONNX conversion of human-models' CenterNet graph model against tfjs.
//
//   node training/backbone/check_tfjs_graph.js [tolerance]
//
// Loads centernet.json + .bin with tf.loadGraphModel (pure JS CPU backend; tfjs widens
// the float16 weights itself), runs the real 512x512 images that convert_backbone.py
// wrote to training/work/backbone/centernet/check/, and prints the max abs difference
// of each compared node against PyTorch and against backbone.onnx in onnxruntime-node.
// Exits 1 if any difference exceeds the tolerance (default 1e-4).
'use strict';
const fs = require('fs');
const path = require('path');
const { work, req, readF32, maxAbsDiff, maxAbs, fileHandler } = require('./tfjs_io');

const tf = req('@tensorflow/tfjs');
const ort = req('onnxruntime-node');

const tol = parseFloat(process.argv[2] || '1e-4');
const modelJson = path.join(work, 'node', 'node_modules', '@vladmandic', 'human-models', 'models', 'centernet.json');
const checkDir = path.join(work, 'backbone', 'centernet', 'check');

function toNHWC(data, [n, c, h, w]) {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++)
    out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x];
  return out;
}

async function main() {
  await tf.setBackend('cpu');
  const meta = JSON.parse(fs.readFileSync(path.join(checkDir, 'meta.json'), 'utf8'));
  const model = await tf.loadGraphModel(fileHandler(modelJson));
  const input = readF32(path.join(checkDir, 'input_nhwc.f32'));
  const [n, h, w, c] = meta.input_shape;
  const one = h * w * c;
  const sess = await ort.InferenceSession.create(path.join(work, 'backbone', 'centernet', 'backbone.onnx'));
  const nchw = new Float32Array(input.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++)
    nchw[((b * c + ch) * h + y) * w + x] = input[((b * h + y) * w + x) * c + ch];
  const ortOut = await sess.run({ images: new ort.Tensor('float32', nchw, [n, c, h, w]) });
  let ok = true;
  const t0 = Date.now();
  // The graph's placeholder is batch 1: run image by image and stitch.
  const tfOut = meta.outputs.map(() => []);
  for (let b = 0; b < n; b++) {
    const x = tf.tensor(input.subarray(b * one, (b + 1) * one), [1, h, w, c]);
    const ys = model.execute(x, meta.outputs);
    for (let i = 0; i < ys.length; i++) tfOut[i].push(await ys[i].data());
  }
  console.log(`tfjs ${tf.version.tfjs} (${tf.getBackend()}): centernet, ${n} images at ${h}x${w} in ${Date.now() - t0} ms`);
  meta.outputs.forEach((name, i) => {
    const ref = new Float32Array(tfOut[i].reduce((s, a) => s + a.length, 0));
    tfOut[i].reduce((off, a) => { ref.set(a, off); return off + a.length; }, 0);
    const th = readF32(path.join(checkDir, `torch_out${i}_nhwc.f32`));
    const o = ortOut[`out${i}`];
    const dt = maxAbsDiff(ref, th);
    const dor = maxAbsDiff(ref, toNHWC(o.data, o.dims));
    const mx = maxAbs(ref);
    const pass = dt <= tol && dor <= tol;
    ok = ok && pass;
    console.log(`${name} ${meta.output_shapes[i]} (max |v| ${mx.toFixed(3)}): tfjs vs pytorch ${dt.toExponential(3)}, ` +
      `vs onnxruntime ${dor.toExponential(3)} -> ${pass ? 'OK' : 'FAIL'} (tol ${tol})`);
  });
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
