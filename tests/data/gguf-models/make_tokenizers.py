#!/usr/bin/env python3
"""Writes the two 512-token tokenizers of tests/data/gguf-models/ from the real
ones (scripts/fetch-tokenizer.sh puts them in .cache/), so the tiny random
models (vocab 512) can be written as GGUF files with a tokenizer that llama.cpp
and plinth both read:

  bpe/tokenizer.json   byte-level BPE: Llama 3's ids 0..509 (their merges whose
                       parts and result are among them), <|begin_of_text|> 510,
                       <|end_of_text|> 511; Llama 3's Split regex and ByteLevel.
  spm/tokenizer.json   SentencePiece-style BPE like Gemma 3's: <pad> <eos> <bos>
                       <unk> <start_of_turn> <end_of_turn>, the 256 <0xXX> byte
                       tokens, printable ASCII and U+2581, then tokens made by
                       Gemma 3's merges in order (parts among those before) up to
                       512; the merges are every split of each token into two
                       tokens, in the order of the tokens (SentencePiece's
                       extractor does the same), so scores and merges agree.

    make_tokenizers.py [CACHE_DIR]     (default: .cache of the source tree)
Deterministic: the same inputs give the same bytes.
"""
import json
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
cache = Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2] / ".cache"


def added(i, content, special=True):
    return {"id": i, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


def write(name, tok):
    (here / name).mkdir(exist_ok=True)
    with open(here / name / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write("\n")


# --- byte-level BPE from Llama 3
src = json.load(open(cache / "llama3-tokenizer" / "tokenizer.json", encoding="utf-8"))
vocab = {t: i for t, i in src["model"]["vocab"].items() if i < 510}
merges = []
for m in src["model"]["merges"]:
    a, b = m.split(" ", 1) if isinstance(m, str) else m
    if a in vocab and b in vocab and a + b in vocab:
        merges.append(f"{a} {b}")
bpe = {
    "version": "1.0",
    "added_tokens": [added(510, "<|begin_of_text|>"), added(511, "<|end_of_text|>")],
    "normalizer": None,
    "pre_tokenizer": src["pre_tokenizer"],
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [], "special_tokens": {"<|begin_of_text|>": {
                           "id": "<|begin_of_text|>", "ids": [510], "tokens": ["<|begin_of_text|>"]}}},
    "decoder": src["decoder"],
    "model": {"type": "BPE", "dropout": None, "unk_token": None,
              "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
              "vocab": vocab, "merges": merges},
}
write("bpe", bpe)

# --- SentencePiece-style BPE like Gemma 3's
src = json.load(open(cache / "gemma3-tokenizer" / "tokenizer.json", encoding="utf-8"))
specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
tokens = list(specials) + [f"<0x{b:02X}>" for b in range(256)]
tokens += [chr(c) for c in range(33, 127)] + ["\u2581"]
have = set(tokens)
for a, b in src["model"]["merges"]:
    if len(tokens) == 512:
        break
    if a in have and b in have and a + b not in have and "<" not in a + b:
        tokens.append(a + b)
        have.add(a + b)
ids = {t: i for i, t in enumerate(tokens)}
merges = []
for t in tokens[len(specials) + 256:]:
    for cut in range(1, len(t)):
        if t[:cut] in ids and t[cut:] in ids:
            merges.append([t[:cut], t[cut:]])
spm = {
    "version": "1.0",
    "added_tokens": [added(i, s) for i, s in enumerate(specials)],
    "normalizer": src["normalizer"],
    "pre_tokenizer": src["pre_tokenizer"],
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [], "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2],
                                                                 "tokens": ["<bos>"]}}},
    "decoder": src["decoder"],
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
              "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
              "vocab": ids, "merges": merges},
}
write("spm", spm)
print(f"bpe: {len(bpe['model']['vocab'])} + 2 tokens, {len(bpe['model']['merges'])} merges; "
      f"spm: {len(tokens)} tokens, {len(merges)} merges")
