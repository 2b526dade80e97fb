// Shared by check_tfjs.js and check_tfjs_graph.js: the packages installed under
// training/work/node, float32 file IO and a file-reading tfjs model loader.
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

const work = path.resolve(__dirname, '..', 'work');
const req = Module.createRequire(path.join(work, 'node', 'node_modules', 'x.js'));

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a) {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

// A tfjs IO handler for a model JSON file (layers or graph model) plus its
// weight shards, concatenated.
function fileHandler(jsonFile) {
  return {
    async load() {
      const mj = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
      const specs = [];
      const bufs = [];
      for (const g of mj.weightsManifest) {
        specs.push(...g.weights);
        for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(jsonFile), p)));
      }
      const all = Buffer.concat(bufs);
      return {
        modelTopology: mj.modelTopology, weightSpecs: specs, format: mj.format, signature: mj.signature,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length),
      };
    },
  };
}

module.exports = { work, req, readF32, maxAbsDiff, maxAbs, fileHandler };
