#!/usr/bin/env node
// Unpacks one of nsfwjs's bundled tfjs layers models (model.min.js + base64 JS
// weight shards) into a plain tfjs model folder: model.json + group1-shard*.bin.
//
//   node training/backbone/unpack_tfjs.js <nsfwjs dir> <model name> <out dir>
//
// The weights stay uint8-quantized exactly as shipped; convert_backbone.py
// dequantizes them with the manifest's min/scale, as tfjs does.
'use strict';
const fs = require('fs');
const path = require('path');

const [pkgDir, name, outDir] = process.argv.slice(2);
if (!pkgDir || !name || !outDir) {
  console.error('usage: unpack_tfjs.js <node_modules/nsfwjs> <mobilenet_v2|inception_v3|...> <out dir>');
  process.exit(2);
}
const srcDir = path.join(pkgDir, 'dist', 'models', name);
const model = require(path.resolve(srcDir, 'model.min.js'));
fs.mkdirSync(outDir, { recursive: true });
let total = 0;
for (const group of model.weightsManifest) {
  group.paths = group.paths.map((p) => {
    let b64 = require(path.resolve(srcDir, p + '.min.js'));
    if (typeof b64 !== 'string') b64 = b64.default;
    const buf = Buffer.from(b64, 'base64');
    total += buf.length;
    fs.writeFileSync(path.join(outDir, p + '.bin'), buf);
    return p + '.bin';
  });
}
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const out = Object.assign({ format: 'layers-model', generatedBy: `nsfwjs@${pkg.version} dist/models/${name}`,
  convertedBy: 'training/backbone/unpack_tfjs.js' }, model);
fs.writeFileSync(path.join(outDir, 'model.json'), JSON.stringify(out));
console.log(`unpack_tfjs: ${name}: ${model.weightsManifest.reduce((n, g) => n + g.weights.length, 0)} tensors, ${total} weight bytes -> ${outDir}`);
