#!/usr/bin/env node
// Checks the PyTorch/ONNX backbone conversion against tfjs (pure JS CPU backend).
//
//   node training/backbone/check_tfjs.js <backbone> [tolerance]
//
// Loads training/work/tfjs/<backbone>/model.json + shards with tf.loadLayersModel
// (tfjs dequantizes the uint8 weights itself), runs the same preprocessed real
// images that convert_backbone.py wrote to training/work/backbone/<backbone>/check/,
// and prints the max abs difference of the feature map and the final class
// probabilities against PyTorch and, when onnxruntime-node is installed, against
// backbone.onnx. Exits 1 if any difference exceeds the tolerance (default 1e-4).
'use strict';
const fs = require('fs');
const path = require('path');
const { work, req, readF32, maxAbsDiff, maxAbs, fileHandler } = require('./tfjs_io');

const tf = req('@tensorflow/tfjs');

const name = process.argv[2] || 'mobilenet_v2';
const tol = parseFloat(process.argv[3] || '1e-4');
const modelDir = path.join(work, 'tfjs', name);
const checkDir = path.join(work, 'backbone', name, 'check');

async function main() {
  await tf.setBackend('cpu');
  const meta = JSON.parse(fs.readFileSync(path.join(checkDir, 'meta.json'), 'utf8'));
  const model = await tf.loadLayersModel(fileHandler(path.join(modelDir, 'model.json')));
  const both = tf.model({ inputs: model.inputs, outputs: [model.getLayer(meta.feature_layer).output, model.outputs[0]] });
  const x = tf.tensor(readF32(path.join(checkDir, 'input_nhwc.f32')), meta.input_shape);
  const t0 = Date.now();
  const [feat, probs] = both.predict(x);
  const tfFeat = await feat.data();
  const tfProbs = await probs.data();
  console.log(`tfjs ${tf.version.tfjs} (${tf.getBackend()}): ${name}, ${meta.images.length} images, ` +
    `${meta.feature_layer} ${feat.shape} in ${Date.now() - t0} ms; max |feature| ${maxAbs(tfFeat).toFixed(3)}`);
  const rows = [];
  const thFeat = readF32(path.join(checkDir, 'torch_feature_nhwc.f32'));
  const thProbs = readF32(path.join(checkDir, 'torch_probs.f32'));
  rows.push(['pytorch', maxAbsDiff(tfFeat, thFeat), maxAbsDiff(tfProbs, thProbs)]);

  const onnxPath = path.join(work, 'backbone', name, 'backbone.onnx');
  let ort = null;
  try { ort = req('onnxruntime-node'); } catch (e) { console.log('onnxruntime-node not installed: skipping the ONNX check'); }
  if (ort && fs.existsSync(onnxPath)) {
    const sess = await ort.InferenceSession.create(onnxPath);
    const [n, h, w, c] = meta.input_shape;
    const nhwc = readF32(path.join(checkDir, 'input_nhwc.f32'));
    const nchw = new Float32Array(nhwc.length);
    for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++)
      nchw[((b * c + ch) * h + y) * w + xx] = nhwc[((b * h + y) * w + xx) * c + ch];
    const out = await sess.run({ pixel_values: new ort.Tensor('float32', nchw, [n, c, h, w]) });
    const fm = out.feature_map; // NCHW
    const [, fc, fh, fw] = fm.dims;
    const fnhwc = new Float32Array(fm.data.length);
    for (let b = 0; b < n; b++) for (let ch = 0; ch < fc; ch++) for (let y = 0; y < fh; y++) for (let xx = 0; xx < fw; xx++)
      fnhwc[((b * fh + y) * fw + xx) * fc + ch] = fm.data[((b * fc + ch) * fh + y) * fw + xx];
    rows.push(['onnxruntime', maxAbsDiff(tfFeat, fnhwc), maxAbsDiff(tfProbs, out.probs.data)]);
  }
  let ok = true;
  for (const [what, df, dp] of rows) {
    const pass = df <= tol && dp <= tol;
    ok = ok && pass;
    console.log(`tfjs vs ${what}: max abs diff feature ${df.toExponential(3)}, probs ${dp.toExponential(3)} -> ${pass ? 'OK' : 'FAIL'} (tol ${tol})`);
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
