// fixture_strings.mjs — the texts every tokenizer fixture script encodes
// (make_fixtures.mjs for Gemma 3, make_bpe_fixtures.mjs for Llama 3 and
// Qwen 3): ASCII prose, code, numbers, URLs, emoji, CJK and other scripts,
// accents and combining marks, special-token text, long words, generated
// mixtures and random code points (a fixed seed), and raw byte strings
// (NUL, invalid UTF-8). Exports S (strings), hexcases (hex byte strings)
// and wf (the Unicode Table 3-7 well-formed sequence length at b[i]).
// ------------------------------------------------------------- the strings
export const S = [];
const add = (...xs) => { for (const x of xs) S.push(x); };

add("", " ", "  ", "a", "Hello", "Hello, world!", "Hello, my dog is cute",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "I'm sure you'll agree: it's not what we'd've expected.",
    "Mr. O'Neil paid $3.50 for 2 coffees (and a 15% tip).",
    "Tokenization is the process of splitting text into smaller units called tokens.",
    "\"Quoted\" and 'single-quoted' text, with — em dashes – and … ellipses.",
    "ALL CAPS SENTENCE WITH SHOUTING!!!", "camelCaseIdentifierName", "snake_case_identifier_name",
    "kebab-case-identifier-name", "SCREAMING_SNAKE_CASE", "Mixed123Numbers456Letters",
    "e.g. i.e. etc. vs. a.m. p.m.", "New York, N.Y., U.S.A.", "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism",
    "Hello\nWorld", "Hello\n\nWorld", "line1\r\nline2\r\n", "tab\tseparated\tvalues",
    "  leading spaces", "trailing spaces   ", "   both   ", "multiple     spaces     inside",
    "\n", "\n\n", "\n\n\n\n\n\n\n\n\n\n", "\t", "\t\t\t\t", " \t \n \t ", "\r", "\r\n\r\n",
    "\v\f", "a\u00a0b", "a\u2003b\u2009c", "zero\u200bwidth\u200bspace", "\u3000ideographic space");
for (let n = 1; n <= 40; n += 3) add(" ".repeat(n) + "x", "\n".repeat(n), "\t".repeat(n) + "y", "x" + " ".repeat(n));
add(" ".repeat(31), " ".repeat(32), " ".repeat(33), " ".repeat(100), "\n".repeat(31), "\n".repeat(32), "\n".repeat(64), "\t".repeat(64));

// code
add("int main(void) { return 0; }",
    "#include <stdio.h>\n\nint main(int argc, char **argv)\n{\n    printf(\"%d\\n\", argc);\n    return 0;\n}\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (let i = 0; i < 10; ++i) {\n\tconsole.log(`i = ${i}`);\n}",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "<table><tr><td>1</td><td>2</td></tr></table>", "<h1>Title</h1><strong>bold</strong><em>it</em>",
    "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
    "x = a->b->c; y = *p++; z = ~mask & 0xFF | (1 << 7);", "if (a != b && c == d || !e) { x += 1; }",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }", "$ ls -la /usr/local/bin | grep -v '^d' > out.txt 2>&1",
    "git commit -m \"Fix: off-by-one in tokenizer\"", "   // indented comment\n       /* block */",
    "@decorator\nclass Foo(Bar, metaclass=Meta):\n    pass", "λx. x + 1", "a == b ? c : d;",
    "matrix[i][j] = sum(row[k] * col[k] for k in range(n))", "#!/usr/bin/env bash\nset -euo pipefail\n",
    "\\begin{equation} E = mc^2 \\end{equation}", "∑_{i=1}^{n} i = n(n+1)/2", "∀x ∈ ℝ: x² ≥ 0");

// numbers
add("0", "1", "12", "123", "1234", "12345", "123456789", "3.14159265358979", "-42", "+7", "1e-10", "6.022e23",
    "1,000,000", "1.000.000,50", "0xDEADBEEF", "0b101010", "007", "2024-01-15", "12:34:56", "v1.2.3-rc.1",
    "192.168.0.1", "3/4", "50%", "$1,234.56", "€99,99", "¥10000", "₹500", "1st 2nd 3rd 4th", "π ≈ 3.14",
    "١٢٣٤٥", "一二三四五", "１２３", "Ⅻ", "½ ¼ ¾");
for (let i = 0; i < 12; ++i) add(String(Math.floor(7 ** (i + 3) * 1.37)));

// URLs, paths, emails
add("https://www.example.com/path/to/page?query=1&other=two#frag",
    "http://localhost:8080/api/v1/users/42", "ftp://ftp.example.org/pub/file.tar.gz",
    "https://github.com/huggingface/tokenizers/blob/main/tokenizers/src/models/bpe/model.rs",
    "mailto:someone@example.com", "user.name+tag@sub.domain.co.uk", "/usr/local/lib/libplinth.so.0",
    "C:\\Program Files\\App\\app.exe", "www.wikipedia.org/wiki/Byte_pair_encoding",
    "https://ja.wikipedia.org/wiki/東京", "see <https://example.com> for details");

// emoji
add("😀", "😀😀😀", "I ❤️ NY", "👍🏽", "👨‍👩‍👧‍👦", "👩🏾‍💻", "🏳️‍🌈", "🇯🇵🇺🇸🇩🇪", "🧑‍🚀 in 🚀",
    "Emoji at end 🎉", "🎉 emoji at start", "mixed😀text🙃here", "☃", "✔️✅❌", "🤖🦾🧠", "🫠🫶🪿",
    "#️⃣ 1️⃣ *️⃣", "👁️‍🗨️", "🐕‍🦺", "❤️‍🔥");

// CJK
add("你好，世界！", "我喜欢自然语言处理。", "今日は良い天気ですね。", "東京タワーに行きました",
    "カタカナとひらがな", "안녕하세요, 세계!", "한국어 텍스트 토큰화", "中文English混合text",
    "繁體中文與簡體中文", "𠀀𠀁𠀂 (CJK Extension B)", "漢字かな交じり文", "「引用」『二重』【括弧】",
    "这是一个很长的中文句子，用来测试分词器在处理连续汉字时的表现，没有任何空格。");

// Arabic, Hebrew, Hindi and other scripts
add("مرحبا بالعالم", "اللغة العربية جميلة", "السلام عليكم ورحمة الله", "مَرْحَبًا", "English then عربي then English",
    "שלום עולם", "नमस्ते दुनिया", "हिन्दी भाषा बहुत सुंदर है।", "क्षत्रिय", "বাংলা ভাষা", "தமிழ் மொழி",
    "ภาษาไทยไม่มีช่องว่าง", "Tiếng Việt có dấu", "Ελληνικά γράμματα", "Привет, мир!", "Съешь же ещё этих мягких французских булок",
    "Ἀρχὴ ἥμισυ παντός", "Հայերեն", "ქართული", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ", "ꦗꦮ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝");

// accents, combining marks
add("café", "cafe\u0301", "naïve résumé", "Crème brûlée", "Ångström", "Zürich Straße", "piñata jalapeño",
    "façade", "Ça va? Où est-ce?", "Dvořák", "Łódź", "Ærøskøbing", "Iñtërnâtiônàlizætiøn",
    "e\u0301\u0302\u0303\u0304", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G",
    "a\u0308o\u0308u\u0308", "ﬁﬂ ligatures", "ǅ ǈ ǋ", "İstanbul ıi", "ŉ ſ");

// special / added tokens inside text
add("<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
    "<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n",
    "text<bos>text", "<eos><eos><eos>", "<bos> spaced <eos>", "a<start_of_turn>b<end_of_turn>c",
    "<start_of_turn", "start_of_turn>", "<<bos>>", "<bos<eos>>", "< bos >", "<BOS>",
    "<unused0> <unused99>", "<start_of_image>", "<image_soft_token>", "<table><thead>x</thead></table>",
    "[multimodal]", "line\n<end_of_turn>\n\n", "▁", "▁▁", "hello▁world", " ▁ ▁▁ ");

// long words and long inputs
add("a".repeat(1000), "ab".repeat(500), "abc".repeat(333), "x".repeat(257), "0123456789".repeat(50),
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "😀".repeat(100), "你".repeat(300), "ب".repeat(200), "-".repeat(120), "=".repeat(80), "*".repeat(64),
    ".".repeat(100), "!?".repeat(50), "_".repeat(50));
const prose = "Byte pair encoding is a simple form of data compression in which the most common pair of consecutive bytes of data is replaced with a byte that does not occur within that data. ";
add(prose.repeat(40), (prose + "\n").repeat(10), prose.replace(/ /g, "  "));

// generated mixtures: words joined by varied separators
const words = ["the", "tokenizer", "naïve", "東京", "🙂", "mañana", "x=1;", "HTTP/2", "42", "السلام", "नमस्ते", "Ωmega",
               "<bos>", "\t", "don't", "e\u0301", "(", ")", "{", "}", "3.0", "über", "👩‍🔬", "\n"];
const seps = [" ", "  ", "", "\n", "\t", " \n ", ", ", "   "];
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
for (let c = 0; c < 60; ++c) {
  const k = 2 + rnd(12);
  let s = "";
  for (let i = 0; i < k; ++i) s += (i ? seps[rnd(seps.length)] : "") + words[rnd(words.length)];
  add(s);
}
// random code points from assorted blocks (valid scalar values only)
const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff], [0x900, 0x97f],
                [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1f300, 0x1faff], [0x10000, 0x1007f],
                [0xe000, 0xe0ff], [0x2000, 0x206f], [0xfff0, 0xfffd], [0x20000, 0x2a6df], [0xf0000, 0xf00ff]];
for (let c = 0; c < 40; ++c) {
  let s = "";
  const k = 1 + rnd(20);
  for (let i = 0; i < k; ++i) { const [lo, hi] = blocks[rnd(blocks.length)]; s += String.fromCodePoint(lo + rnd(hi - lo + 1)); }
  add(s);
}
add("\u0001\u0002\u001f\u007f", "\u0085\u2028\u2029", "\ufeffBOM at start", "\ufffd replacement char", "\uffff\ufffe",
    "\u{10ffff}", "\u{e0041}\u{e0042} tags", "\u200d\u200c zwj zwnj", "\u202eRTL override\u202c");

// ------------------------------------------------------------- raw bytes
export const hexcases = ["00", "610062", "00000000", "68656c6c6f00776f726c64",          // NUL inside text
  "ff", "fe", "c0", "c1", "f5", "f8", "80", "bf", "8080", "c080", "c0af", "e08080", "f0808080", // lone/overlong
  "eda080", "edbfbf", "eda0bdedb880",                                            // surrogates (CESU)
  "f4908080", "f7bfbfbf",                                                        // > U+10FFFF
  "e282", "e2", "f09f98", "f09f", "c3",                                          // truncated
  "68656c6c6fff776f726c64", "e282ac20e282", "c328", "a0a1", "e228a1", "e28228", "f0288cbc", "f09028bc",
  "f0288c28", "61ff62fe63fd64", "ffffffff", "20ff20", "3c626f73ff3e", "3c626f733effff3c656f733e",
  "e4bda0e5a5bdff", "f09f9880f09f98", "41c3a942", "cebae1bdb9cf83cebcceb5", "e29681ff"];

// Unicode Table 3-7 well-formed sequence length at b[i], or 0.
export function wf(b, i) {
  const c = b[i];
  const cont = (k, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
