/*
 * tokenizer_internal.h — the loaded form of a tokenizer.json shared by the
 * tokenizer's files: tokenizer.c (loading, decode, the chat template),
 * tokenizer_bpe.c (encode: added-token split, normalizer, pre-tokenizer,
 * BPE merge loop) and tokenizer_map.c (hash maps, UTF-8 validation).
 * Not part of the public API.
 */
#ifndef PLINTH_TOKENIZER_INTERNAL_H
#define PLINTH_TOKENIZER_INTERNAL_H

#include "tokenizer.h"

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
int tok_map64_init(tok_map64 *m, size_t n_expected, uint64_t seed);
void tok_map64_free(tok_map64 *m);
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

enum { TOK_NORM_REPLACE, TOK_NORM_PREPEND };
typedef struct {
    int kind;
    char *pattern, *content; /* NUL-terminated copies */
    size_t plen, clen;
} tok_norm_step;

/* HF SplitDelimiterBehavior. */
enum { TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_PREV, TOK_SPLIT_NEXT, TOK_SPLIT_CONTIGUOUS };

enum { TOK_DEC_REPLACE, TOK_DEC_BYTEFALLBACK, TOK_DEC_FUSE, TOK_DEC_STRIP };
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
    bool has_split;
    char *split_pat;
    size_t split_len;
    int split_behavior;
    tok_dec_step *dec;
    size_t n_dec;
    uint32_t max_piece;

    int32_t bos, eos;
};

int tok_strmap_init(tok_strmap *m, size_t n_expected, uint64_t seed);
void tok_strmap_free(tok_strmap *m);
uint32_t tok_hash_str(const char *s, size_t n, uint64_t seed);
/* Inserts id under its pool text; an existing entry with the same text is
 * overwritten (added tokens override the model vocab, as in transformers.js). */
void tok_strmap_put(const tokenizer *t, tok_strmap *m, uint32_t id);
int32_t tok_lookup(const tokenizer *t, const char *s, size_t n);

/* Length of the well-formed UTF-8 sequence at s[0] (Unicode Table 3-7: no
 * overlongs, surrogates or code points past U+10FFFF), or 0. */
size_t tok_utf8_len(const unsigned char *s, size_t n);

/* Encode without <bos>, appending to a growable array. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_encode_text(const tokenizer *t, const char *text, size_t len, tok_ids *out);
int tok_ids_push(tok_ids *o, int32_t id);

#endif /* PLINTH_TOKENIZER_INTERNAL_H */
