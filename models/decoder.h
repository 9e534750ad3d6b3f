/*
 * decoder.h — the one graph builder of every decoder-only architecture
 * (lm_model.h's lm_config and its traits say where they differ). Used by
 * lm_model.c to compile the prefill and decode programs.
 */
#ifndef PLINTH_DECODER_H
#define PLINTH_DECODER_H

#include "lm_model.h"

typedef struct decoder_builder {
    plinth_graph *g;
    const lm_config *c;
    const plinth_state_dict *sd; /* the dtypes the checkpoint stores (may be NULL) */
    bool f32;                    /* declare every param f32 instead               */
    int32_t quantize;            /* a block dtype: matrices quantised at load      */
    int32_t split;               /* layers pinned to backend 0, then 1; 0: no pins */
    int64_t S;                   /* cache rows: n_ctx + 1 (the scratch row)        */
    plinth_node one;             /* f32 [1] = 1: Gemma's norm offset (set by build) */
    plinth_node factors[2];      /* rope factors of full / sliding layers, or
                                    PLINTH_NODE_INVALID (set by build)            */
} decoder_builder;

/* The whole forward for T tokens into b->g: inputs "tokens" i32 [T], "pos"
 * i32 [T], "kv_len" i32 [1]; output "logits" [T or 1, vocab] (every row
 * with `all`, else the last). Returns the graph's status. */
plinth_status decoder_build(decoder_builder *b, int64_t T, bool all);

/* The dtype param `name` is declared with: f32 when forced; the quantize
 * dtype for a matrix whose rows are whole blocks of it; the stored one when
 * it is bf16, f16 or a block dtype; else f32. */
/* The block type a matrix with rows of cols elements takes when t is asked
 * for (at load or by plinth quantize): t where the rows are whole blocks of
 * it; otherwise, for the K-quants (256-element super-blocks), the 32-element
 * type nearest in size — q4_K -> q4_0, q6_K -> q8_0 (llama.cpp's quantiser
 * takes q5_0 and q8_0; plinth has no q5_0) — so that Gemma 3 270M's
 * 640-wide rows are quantised too; -1 where no block type fits (or t is not
 * a block type). */
int32_t decoder_block_for_rows(int32_t t, int64_t cols);

plinth_dtype decoder_param_dtype(const decoder_builder *b, const char *name);

/* Whether layer l of a T-row program passes on only its last row: the last
 * layer, when only the last logits are wanted. */
bool decoder_last_row_only(const lm_config *c, int l, int64_t T, bool all);

#endif
