/*
 * gemma_oracle.h — an independent Gemma 3 forward for the e2e tests: plain
 * loops in double over every position, written from Hugging Face's
 * modeling_gemma3 and sharing nothing with plinth's graph, ops or backends
 * (it reads the weights through st_io and the config through
 * lm_config_load only). Slow and obvious on purpose.
 */
#ifndef PLINTH_GEMMA_ORACLE_H
#define PLINTH_GEMMA_ORACLE_H

#include <stddef.h>
#include <stdint.h>

/* Logits [n][vocab] (malloc'ed into *out) for tokens at positions 0..n-1.
 * Returns 0, or -1 with a message in err. */
int oracle_logits(const char *model_dir, const int32_t *tokens, int32_t n, float **out,
                  char *err, size_t err_size);

#endif
