#!/usr/bin/env node
// Runs one ONNX model in onnxruntime-node on one float32 input and writes its outputs.
//
//   node training/backbone/ort_run.js MODEL.onnx INPUT_NAME INPUT.f32 DIM,DIM,... OUT_DIR
//
// INPUT.f32 is raw little-endian float32 (C order); each output is written as
// OUT_DIR/<output name>.f32 with its shape in OUT_DIR/<output name>.json. Used by
// training/finetune_from_onnx.py to compare PyTorch with an exported encoder.
'use strict';
const fs = require('fs');
const path = require('path');
const { req, readF32 } = require('./tfjs_io');

const ort = req('onnxruntime-node');

async function main() {
  const [model, inputName, inputFile, dims, outDir] = process.argv.slice(2);
  const shape = dims.split(',').map(Number);
  const sess = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const out = await sess.run({ [inputName]: new ort.Tensor('float32', readF32(inputFile), shape) });
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, t] of Object.entries(out)) {
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
    fs.writeFileSync(path.join(outDir, safe + '.f32'), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fs.writeFileSync(path.join(outDir, safe + '.json'), JSON.stringify(t.dims));
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
