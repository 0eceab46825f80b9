// Prints, for the character classes r1's pre-tokenizers use, the code point
// ranges that Hugging Face's regex engine (Oniguruma) puts in each class.
// r1 compares them with Go's Unicode tables and records the differences in
// tokenizer/unicode_tables.go (see TestGenerateUnicodeTables).
// Usage: node classes.js > classes.json
'use strict';
const { Tokenizer } = require('@anush008/tokenizers');

const classes = { L: '\\p{L}', N: '\\p{N}', M: '\\p{M}', P: '\\p{P}', S: '\\p{S}', space: '\\s' };

function splitter(regex) {
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: regex }, behavior: 'Removed', invert: false },
    post_processor: null, decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab: { a: 0 }, merges: [] },
  };
  return Tokenizer.fromString(JSON.stringify(json)).getPreTokenizer();
}

// Every code point but the marker and surrogates, each after the marker.
const marker = '\u0001';
const points = [];
for (let c = 0; c <= 0x10ffff; c++) {
  if (c === 1 || (c >= 0xd800 && c <= 0xdfff)) continue;
  points.push(c);
}
const text = points.map((c) => marker + String.fromCodePoint(c)).join('');

const out = {};
for (const [name, cls] of Object.entries(classes)) {
  // "marker + member" is removed; what remains are the non-members.
  const rest = splitter(marker + cls).preTokenizeString(text).map((p) => p[0]).join('');
  const non = new Set();
  for (const ch of rest) {
    const c = ch.codePointAt(0);
    if (c !== 1) non.add(c);
  }
  const ranges = [];
  for (const c of points) {
    if (non.has(c)) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === c - 1) last[1] = c;
    else ranges.push([c, c]);
  }
  out[name] = ranges;
}
process.stdout.write(JSON.stringify(out));
