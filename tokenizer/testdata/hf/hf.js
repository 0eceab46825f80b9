// Runs Hugging Face's Rust tokenizer (via @anush008/tokenizers) for r1's
// differential test and benchmark. Usage:
//   node hf.js encode TOKENIZER.json INPUT.jsonl [special] -> one {"ids":[...]} line per {"text":...} line
//     (special tokens are added only when the 4th argument is "special")
//   node hf.js decode TOKENIZER.json INPUT.jsonl -> one {"text":..., "skipped":...} line per {"ids":[...]} line
//     ("skipped" is decoded with skip_special_tokens)
//   node hf.js bench  TOKENIZER.json TEXT.txt ITERS CHUNK -> JSON with MB/s (single call and batched, best of ITERS)
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');

async function encode(tokPath, inPath, special) {
  const tok = Tokenizer.fromFile(tokPath);
  const lines = fs.readFileSync(inPath, 'utf8').split('\n').filter((l) => l.length > 0);
  const texts = lines.map((l) => JSON.parse(l).text);
  const out = [];
  // One call at a time keeps the output order obvious; the inputs are small.
  for (const t of texts) {
    const enc = await tok.encode(t, null, { addSpecialTokens: special === 'special' });
    out.push(JSON.stringify({ ids: Array.from(enc.getIds()) }));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

async function decode(tokPath, inPath) {
  const tok = Tokenizer.fromFile(tokPath);
  const lines = fs.readFileSync(inPath, 'utf8').split('\n').filter((l) => l.length > 0);
  const out = [];
  for (const l of lines) {
    const ids = JSON.parse(l).ids;
    const text = await tok.decode(ids, false);
    const skipped = await tok.decode(ids, true);
    out.push(JSON.stringify({ text, skipped }));
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

async function bench(tokPath, textPath, iters, chunk) {
  const tok = Tokenizer.fromFile(tokPath);
  const text = fs.readFileSync(textPath, 'utf8');
  const bytes = Buffer.byteLength(text, 'utf8');
  // Batches are split on line boundaries into pieces of about `chunk` bytes,
  // the same way the Go benchmark splits them.
  const pieces = [];
  let cur = '';
  let curBytes = 0;
  for (const line of text.split(/(?<=\n)/)) {
    cur += line;
    curBytes += Buffer.byteLength(line, 'utf8');
    if (curBytes >= chunk) { pieces.push(cur); cur = ''; curBytes = 0; }
  }
  if (cur.length) pieces.push(cur);
  await tok.encode(text.slice(0, 1000), null, { addSpecialTokens: false }); // warm up
  // Best of iters runs: the machine may be shared, and the best run is the
  // closest to what the code can do.
  let single = Infinity, batch = Infinity, ntok = 0, btok = 0;
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    single = Math.min(single, Number(process.hrtime.bigint() - t0) / 1e9);
    ntok = enc.getIds().length;
  }
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    const encs = await tok.encodeBatch(pieces, { addSpecialTokens: false });
    batch = Math.min(batch, Number(process.hrtime.bigint() - t0) / 1e9);
    btok = encs.reduce((a, e) => a + e.getIds().length, 0);
  }
  console.log(JSON.stringify({ bytes, tokens: ntok, batch_tokens: btok, pieces: pieces.length,
    single_mb_s: bytes / 1e6 / single, batch_mb_s: bytes / 1e6 / batch }));
}

const [mode, a, b, c, d] = process.argv.slice(2);
const run = mode === 'encode' ? encode(a, b, c) : mode === 'decode' ? decode(a, b) : mode === 'bench' ? bench(a, b, Number(c || 3), Number(d || 65536)) : Promise.reject(new Error('mode must be encode or bench'));
run.catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
