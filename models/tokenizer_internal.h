/*
 * tokenizer_internal.h — the loaded form of a tokenizer.json shared by the
 * tokenizer's files. Not part of the public API.
 *
 *   tokenizer.c          loading (the order of the steps), decode, pieces,
 *                        the public getters
 *   tokenizer_json.c     walking the text of a tokenizer.json: spans for
 *                        the big vocab and merges, a small cJSON tree for
 *                        the rest
 *   tokenizer_vocab.c    the vocab, merges and added-token trie
 *   tokenizer_steps.c    normalizer / pre-tokenizer / decoder /
 *                        post-processor settings
 *   tokenizer_config.c   tokenizer_config.json: add_bos, bos/eos, the chat
 *                        template; the stop tokens
 *   tokenizer_unicode.c  PCRE2 (Split regexes), utf8proc (NFC), GPT-2's
 *                        byte <-> character table
 *   tokenizer_bpe.c      encode: added-token split, normalizer,
 *                        pre-tokenizer, BPE merge loop
 *   tokenizer_map.c      hash maps, UTF-8 validation
 *   tokenizer_gguf.c     the same tokenizer from a GGUF file's
 *                        tokenizer.ggml.* metadata, and written into one
 */
#ifndef PLINTH_TOKENIZER_INTERNAL_H
#define PLINTH_TOKENIZER_INTERNAL_H

#include "tokenizer.h"
#include "model_mem.h"

#include <cJSON.h>
#include <stdlib.h>

/* ------------------------------------------------------------ hash maps */

/* u64 key -> two u32 values, open addressing. Used for merges
 * ((left id << 32) | right id -> rank, merged id) and for the added-token
 * trie's edges ((node << 8) | byte -> child node). */
typedef struct {
    uint64_t key; /* TOK_MAP_EMPTY when free */
    uint32_t a, b;
} tok_map64_slot;
typedef struct {
    tok_map64_slot *slots;
    uint64_t mask;
    uint64_t seed; /* see tok_map_seed */
} tok_map64;
#define TOK_MAP_EMPTY UINT64_MAX

/* A fresh seed for the maps of one tokenizer. Keys come from the file:
 * with a fixed hash its author could pick thousands of tokens or merges
 * that land in one bucket and make loading quadratic; with an unknown
 * seed they cannot. Lookups give the same answers for every seed. */
uint64_t tok_map_seed(const void *salt);
/* The maps' slots come from ctx (model_mem.h); free with the same ctx. */
int tok_map64_init(plinth_context *ctx, tok_map64 *m, size_t n_expected, uint64_t seed);
void tok_map64_free(plinth_context *ctx, tok_map64 *m);
/* Inserts or overwrites (the last duplicate merge wins, as in HF and
 * transformers.js). */
void tok_map64_put(tok_map64 *m, uint64_t key, uint32_t a, uint32_t b);
const tok_map64_slot *tok_map64_get(const tok_map64 *m, uint64_t key);

/* Token text -> id. Keys live in the tokenizer's string pool. */
typedef struct {
    uint32_t id; /* UINT32_MAX when free */
    uint32_t hash;
} tok_strmap_slot;
typedef struct {
    tok_strmap_slot *slots;
    uint32_t mask;
    uint64_t seed; /* see tok_map_seed */
} tok_strmap;

/* -------------------------------------------------------------- pipeline */

enum { TOK_NORM_REPLACE, TOK_NORM_PREPEND, TOK_NORM_NFC };
typedef struct {
    int kind;
    char *pattern, *content; /* NUL-terminated copies */
    size_t plen, clen;
} tok_norm_step;

/* HF SplitDelimiterBehavior. */
enum { TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_PREV, TOK_SPLIT_NEXT, TOK_SPLIT_CONTIGUOUS };

typedef struct tok_regex tok_regex; /* a compiled PCRE2 pattern (tokenizer_unicode.c) */

/* One Split of the pre-tokenizer: on a literal string (pattern) or a
 * regex (re). */
typedef struct {
    char *pattern; /* NUL-terminated copy of the String or Regex */
    size_t plen;
    tok_regex *re; /* NULL for a String */
    int behavior;  /* TOK_SPLIT_* */
} tok_split_step;

enum { TOK_DEC_REPLACE, TOK_DEC_BYTEFALLBACK, TOK_DEC_FUSE, TOK_DEC_STRIP, TOK_DEC_BYTELEVEL };
typedef struct {
    int kind;
    char *pattern, *content;
    size_t plen, clen;
    int start, stop;     /* Strip */
    bool whole_text;     /* Strip after a Fuse: acts on the whole text */
} tok_dec_step;

/* Per-id flags. */
enum {
    TOKF_PRESENT = 1, /* the id names a token (ids may have holes) */
    TOKF_SPECIAL = 2, /* added token with "special": true */
    TOKF_ADDED = 4,   /* added token: matched in raw text before BPE */
    TOKF_LSTRIP = 8,
    TOKF_RSTRIP = 16,
};

struct tokenizer {
    plinth_context *ctx; /* every block below comes from it (model_mem.h) */
    char *path; /* for messages */
    uint32_t n_ids; /* largest id + 1 */
    char *pool;     /* every token's text, back to back */
    uint32_t *off, *len;
    uint8_t *flags;
    tok_strmap vocab; /* model vocab + added tokens */

    tok_map64 merges;
    int32_t byte_id[256]; /* "<0xXX>" ids, -1 if absent */
    int32_t ascii_id[128]; /* single ASCII character tokens, -1 if absent */
    int32_t unk_id;
    bool byte_fallback, fuse_unk, ignore_merges;

    /* Added tokens: a byte trie matched leftmost-longest over the raw text. */
    tok_map64 trie;
    int32_t *node_tok; /* token ending at a node, or -1 */
    uint32_t n_nodes;
    bool can_start[256];

    tok_norm_step *norm;
    size_t n_norm;
    tok_split_step *split; /* the pre-tokenizer's Splits, in order */
    size_t n_split;
    /* A ByteLevel pre-tokenizer (last in a Sequence): each word's bytes
     * become GPT-2's characters before BPE; with use_regex, GPT-2's own
     * regex splits first (byte_level_re). */
    bool byte_level, byte_level_prefix_space;
    tok_regex *byte_level_re;
    int32_t byte_char_id[256]; /* ByteLevel: the id of byte b's character, -1 if none */
    /* NFC, a regex or ByteLevel read text as UTF-8: encode cuts a text at
     * each byte that starts no well-formed sequence (tokenizer_bpe.c). */
    bool needs_utf8;
    tok_dec_step *dec;
    size_t n_dec;
    uint32_t max_piece;

    int32_t bos, eos;
    bool add_bos;        /* tokenizer_add_bos: see tokenizer_config.c */
    char *chat_template; /* tokenizer_config.json's, or NULL */
};

/* ------------------------------------------------------- loading helpers */

typedef struct {
    const char *path;
    char *err;
    size_t err_size;
    plinth_context *mem; /* the tokenizer's allocator (model_mem.h) */
} tok_load_ctx;

/* "<file>: message" through the one formatter of models/ (errbuf.h);
 * returns -1. */
int tok_fail(const tok_load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable byte buffer, its memory from ctx (model_mem.h). */
typedef struct {
    char *p;
    size_t cap;
    plinth_context *ctx;
} tok_buf;
static inline int tok_buf_reserve(tok_buf *b, size_t n)
{
    if (n <= b->cap) return 0;
    size_t c = b->cap ? b->cap : 64;
    while (c < n) c *= 2;
    char *p = model_realloc(b->ctx, b->p, c);
    if (!p) return -1;
    b->p = p;
    b->cap = c;
    return 0;
}
static inline void tok_buf_free(tok_buf *b)
{
    model_free(b->ctx, b->p);
    b->p = NULL;
    b->cap = 0;
}

/* tokenizer_json.c: spans [start, end) of values in a text that passed
 * json_text_check. Member/element walks start with *pos = 0. */
typedef struct {
    size_t start, end;
} tokj_span;
tokj_span tokj_root(const char *s, size_t len);
bool tokj_is(const char *s, tokj_span v, char open); /* '{', '[' or '"' */
bool tokj_member(const char *s, tokj_span obj, size_t *pos, tokj_span *key, tokj_span *val);
bool tokj_element(const char *s, tokj_span arr, size_t *pos, tokj_span *val);
bool tokj_key_is(const char *s, tokj_span key, const char *name);
/* A string value's bytes as cJSON decodes them: *out points into the text
 * when there is no escape, else into scratch (json_text_string; *n then
 * stops at an escaped NUL, as cJSON's C string did). 0, 1 if v is not a
 * string, -1 when out of memory. */
int tokj_string(const char *s, tokj_span v, tok_buf *scratch, const char **out, size_t *n);
/* A number as cJSON reads it; false if v is not a number. */
bool tokj_number(const char *s, tokj_span v, double *out);
/* A value as json_text_show writes it (for messages). */
const char *tokj_show(const char *s, tokj_span v, char *buf, size_t size);
/* A member of an object by its key (the first one, as cJSON's lookup
 * finds); false if obj is not an object or has none. */
bool tokj_get(const char *s, tokj_span obj, const char *key, tokj_span *val);
/* The object at `root` as a cJSON tree, each member parsed on its own,
 * except the big ones, whose spans are returned (start == end when
 * absent): big[0] model.vocab, big[1] model.merges, big[2] added_tokens.
 * The tree comes from cJSON's hooks (inside model_json_enter's bracket).
 * NULL when out of memory. */
cJSON *tokj_tree(plinth_context *ctx, const char *s, tokj_span root, tokj_span big[3]);

/* tokenizer_vocab.c: the vocab and the added tokens (an array, or
 * start == end for none). */
int tok_load_vocab(tokenizer *t, const tok_load_ctx *c, const char *s, tokj_span vocab, tokj_span added);
int tok_load_merges(tokenizer *t, const tok_load_ctx *c, const char *s, tokj_span merges);
int tok_build_trie(tokenizer *t, const tok_load_ctx *c);

/* tokenizer_steps.c: the pipeline settings of the tree's root. */
int tok_load_steps(tokenizer *t, const tok_load_ctx *c, const cJSON *root);
/* The checks once the steps are set (tok_load_steps ends with it): under
 * ByteLevel every byte's character is a token; the normalizer and decoder
 * grow texts at most MODEL_MAX_TEXT_GROWTH times. */
int tok_check_steps(tokenizer *t, const tok_load_ctx *c);

/* tokenizer.c, shared with tokenizer_gguf.c: the "<0xXX>" and single ASCII
 * character ids (byte_fallback needs every <0xXX>), and the longest piece. */
int tok_index_bytes(tokenizer *t, const tok_load_ctx *c);
int tok_measure_pieces(tokenizer *t, const tok_load_ctx *c);
/* The token the post-processor puts first (TemplateProcessing, alone or
 * in a Sequence), or -1. */
int32_t tok_template_bos(const tokenizer *t, const cJSON *root);

/* tokenizer_config.c: tokenizer_config.json beside `json_path`, if any. */
int tok_load_config(tokenizer *t, const tok_load_ctx *c, const char *json_path, const cJSON *root);

/* tokenizer_unicode.c */
/* Compiles a Split pattern (PCRE2, UTF + UCP, JIT where available) and
 * runs it on a few probe texts, so that a pattern that backtracks
 * catastrophically is refused at load. On failure, why[] says why. */
/* PCRE2 allocates from ctx (model_mem.h) for the pattern and its matchers. */
int tok_regex_compile(plinth_context *ctx, const char *pattern, size_t len, tok_regex **out, char *why,
                      size_t why_size);
void tok_regex_free(tok_regex *r);
/* Per-call matching state (match data and limits) from ctx; NULL if out of
 * memory. */
typedef struct tok_matcher tok_matcher;
tok_matcher *tok_matcher_create(plinth_context *ctx);
void tok_matcher_free(tok_matcher *m);
enum { TOK_RE_FOUND = 1, TOK_RE_NONE = 0, TOK_RE_NO_MEMORY = -1, TOK_RE_LIMIT = -3 };
/* The first match in s[from, n) (s is valid UTF-8, `from` on a character
 * boundary): [*ms, *me). TOK_RE_LIMIT when PCRE2's match, depth or heap
 * limit stopped it. */
int tok_regex_find(const tok_regex *r, tok_matcher *m, const char *s, size_t n, size_t from, size_t *ms,
                   size_t *me);
/* NFC of valid UTF-8 (utf8proc): 0 with *out from ctx, 1 if s is already
 * NFC by a quick check (then *out is NULL), -1 out of memory. */
int tok_nfc(plinth_context *ctx, const char *s, size_t n, char **out, size_t *out_n);
/* GPT-2's bytes_to_unicode: byte b's character as UTF-8 in buf (1 or 2
 * bytes, returned); tok_char_byte is the inverse (-1 if c is none). */
size_t tok_byte_char(unsigned b, char buf[2]);
int tok_char_byte(uint32_t c);

/* ------------------------------------------------ hash maps, UTF-8, encode */

int tok_strmap_init(plinth_context *ctx, tok_strmap *m, size_t n_expected, uint64_t seed);
void tok_strmap_free(plinth_context *ctx, tok_strmap *m);
uint32_t tok_hash_str(const char *s, size_t n, uint64_t seed);
/* Inserts id under its pool text; an existing entry with the same text is
 * overwritten (added tokens override the model vocab, as in transformers.js). */
void tok_strmap_put(const tokenizer *t, tok_strmap *m, uint32_t id);
int32_t tok_lookup(const tokenizer *t, const char *s, size_t n);

/* Length of the well-formed UTF-8 sequence at s[0] (Unicode Table 3-7: no
 * overlongs, surrogates or code points past U+10FFFF), or 0. */
size_t tok_utf8_len(const unsigned char *s, size_t n);

/* Encode without <bos>, appending to a growable array (from ctx). */
typedef struct {
    int32_t *v;
    size_t n, cap;
    plinth_context *ctx;
} tok_ids;
int tok_encode_text(const tokenizer *t, const char *text, size_t len, tok_ids *out);
int tok_ids_push(tok_ids *o, int32_t id);

#endif /* PLINTH_TOKENIZER_INTERNAL_H */
