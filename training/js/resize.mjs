// Write copies of images already at the model's input size, as RGB PNGs, so
// that neither the Go app nor transformers.js resizes them (both skip the
// resize when the size already matches) and both decode the same lossless
// pixels. This isolates the model/decoder/tokenizer path from the image
// decoders and resamplers, which differ (see README.md).
//
//   node training/js/resize.mjs MODEL_DIR OUT_DIR IMAGE...
//
// Prints the new paths, one per line. The resampling kernel does not matter
// for the comparison (both sides read the same output); sharp's default is used.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const [modelDir, outDir, ...images] = process.argv.slice(2);
if (!modelDir || !outDir || images.length === 0) {
  process.stderr.write('usage: node training/js/resize.mjs MODEL_DIR OUT_DIR IMAGE...\n');
  process.exit(2);
}
const nodeModules = path.resolve(process.env.TJS_NODE_MODULES || path.join(repo, 'training', 'work', 'js', 'node_modules'));
const require = createRequire(pathToFileURL(path.join(nodeModules, 'x.js')).href);
const sharp = require('sharp');

const pp = JSON.parse(fs.readFileSync(path.join(modelDir, 'preprocessor_config.json'), 'utf8'));
let size = pp.size ?? { height: 224, width: 224 };
if (typeof size === 'number') size = { height: size, width: size };
if (pp.do_center_crop) {
  process.stderr.write('resize.mjs: do_center_crop is not handled; the comparison assumes a plain resize to size\n');
  process.exit(1);
}
if (!size.height || !size.width) {
  process.stderr.write(`resize.mjs: size ${JSON.stringify(size)} has no fixed height and width\n`);
  process.exit(1);
}
fs.mkdirSync(outDir, { recursive: true });
for (const img of images) {
  const base = path.basename(img).replace(/\.[^.]+$/, '');
  const out = path.join(outDir, `${base}.png`);
  await sharp(img).removeAlpha().resize({ width: size.width, height: size.height, fit: 'fill' }).png().toFile(out);
  process.stdout.write(out + '\n');
}
