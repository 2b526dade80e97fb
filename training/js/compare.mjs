// Caption images with transformers.js (@huggingface/transformers v3) from a
// LOCAL model folder, to cross-check the Go inference package.
//
//   node training/js/compare.mjs [--model DIR] [--greedy] [--json] IMAGE...
//
// Prints `path<TAB>caption<TAB>milliseconds` per image on stdout; the
// milliseconds cover one pipeline call (image read + preprocess + encoder +
// decoding + detokenise), not the model load, which is reported on stderr.
//
// DIR defaults to $MODEL_DIR, else models/tiny-random. No network: remote
// models are disabled and the model is read from DIR only.
//
// Decoding uses the model's generation_config.json. NOTE: transformers.js v3
// has no real beam search: with num_beams > 1 its generate() still keeps a
// single hypothesis and takes the best token each step, which is greedy
// decoding with the same logits processors (no_repeat_ngram_size,
// bad_words_ids, min_length, ...). We warn about that on stderr. --greedy sets
// num_beams = 1 explicitly (same result, no warning).
//
// The transformers package is imported from $TJS_NODE_MODULES (default
// training/work/js/node_modules, where compare.sh installs the pinned
// version from training/js/package-lock.json).

import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

function usage(msg) {
  if (msg) process.stderr.write(`compare.mjs: ${msg}\n`);
  process.stderr.write('usage: node training/js/compare.mjs [--model DIR] [--greedy] [--json] IMAGE...\n');
  process.exit(2);
}

let modelDir = process.env.MODEL_DIR || path.join(repo, 'models', 'tiny-random');
let greedy = false;
let json = false;
const images = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--model') { modelDir = argv[++i] ?? usage('--model needs a value'); }
  else if (a === '--greedy') { greedy = true; }
  else if (a === '--json') { json = true; }
  else if (a === '-h' || a === '--help') { usage(); }
  else if (a.startsWith('--')) { usage(`unknown option ${a}`); }
  else { images.push(a); }
}
if (images.length === 0) usage('name at least one image file');

modelDir = path.resolve(modelDir);
for (const f of ['config.json', 'tokenizer.json', 'preprocessor_config.json', 'onnx/encoder_model.onnx']) {
  if (!fs.existsSync(path.join(modelDir, f))) {
    process.stderr.write(`compare.mjs: ${modelDir} has no ${f}\n`);
    process.exit(1);
  }
}

const nodeModules = path.resolve(process.env.TJS_NODE_MODULES || path.join(repo, 'training', 'work', 'js', 'node_modules'));
const entry = path.join(nodeModules, '@huggingface', 'transformers', 'dist', 'transformers.node.mjs');
if (!fs.existsSync(entry)) {
  process.stderr.write(`compare.mjs: ${entry} is missing; run training/js/compare.sh (it installs the package) or set TJS_NODE_MODULES\n`);
  process.exit(1);
}
const { env, pipeline } = await import(pathToFileURL(entry).href);
const tjsVersion = JSON.parse(fs.readFileSync(path.join(nodeModules, '@huggingface', 'transformers', 'package.json'), 'utf8')).version;

// Local files only: the model id is the folder name, looked up under its parent.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.dirname(modelDir) + path.sep;
env.useBrowserCache = false;
env.useFSCache = false;
env.cacheDir = path.join(repo, 'training', 'work', 'js', 'cache'); // never written with useFSCache=false
const modelId = path.basename(modelDir);

const genCfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'generation_config.json'), 'utf8'));
if (!greedy && (genCfg.num_beams ?? 1) > 1) {
  process.stderr.write(`compare.mjs: WARNING: generation_config.json asks for num_beams=${genCfg.num_beams}, ` +
    `but transformers.js ${tjsVersion} keeps one hypothesis (greedy decoding with the same logits processors)\n`);
}

const t0 = performance.now();
const captioner = await pipeline('image-to-text', modelId, {
  dtype: 'fp32',
  device: 'cpu',
  session_options: { intraOpNumThreads: Number(process.env.THREADS_PER_JOB || 1), interOpNumThreads: 1 },
});
const loadMs = performance.now() - t0;
process.stderr.write(`compare.mjs: transformers.js ${tjsVersion}, model ${modelDir} loaded in ${loadMs.toFixed(0)} ms\n`);

const genOpts = greedy ? { num_beams: 1 } : {};
let failed = 0;
const rows = [];
for (const img of images) {
  let text;
  const s = performance.now();
  try {
    const out = await captioner(path.resolve(img), genOpts);
    text = out[0].generated_text;
  } catch (err) {
    process.stderr.write(`${img}: ${err?.message ?? err}\n`);
    failed++;
    continue;
  }
  const ms = performance.now() - s;
  // Same output shape as the Go CLI (`path<TAB>caption`), plus the time.
  const clean = text.replace(/[\t\r\n]/g, ' ');
  rows.push({ path: img, caption: clean, ms });
  if (!json) process.stdout.write(`${img}\t${clean}\t${ms.toFixed(1)}\n`);
}
if (json) process.stdout.write(JSON.stringify({ transformers_js: tjsVersion, load_ms: loadMs, rows }) + '\n');
await captioner.dispose?.();
if (failed > 0) {
  process.stderr.write(`compare.mjs: ${failed} of ${images.length} images failed\n`);
  process.exit(1);
}
