/*
 * gguf_types.c — ggml's tensor types as GGUF files number them: the one
 * table the reader and the writer use (ggml.h's enum ggml_type and ggml.c's
 * type traits, llama.cpp b10573). Numbers ggml has removed (4, 5, 31-33,
 * 36-38) are absent, so a file using them is refused as unknown.
 */
#include "gguf.h"

#include <string.h>

static const gguf_type_info types[] = {
    {0, "F32", 1, 4, PLINTH_F32},       {1, "F16", 1, 2, PLINTH_F16},
    {2, "Q4_0", 32, 18, PLINTH_Q4_0},   {3, "Q4_1", 32, 20, -1},
    {6, "Q5_0", 32, 22, -1},            {7, "Q5_1", 32, 24, -1},
    {8, "Q8_0", 32, 34, PLINTH_Q8_0},   {9, "Q8_1", 32, 36, -1},
    {10, "Q2_K", 256, 84, -1},          {11, "Q3_K", 256, 110, -1},
    {12, "Q4_K", 256, 144, PLINTH_Q4_K}, {13, "Q5_K", 256, 176, -1},
    {14, "Q6_K", 256, 210, PLINTH_Q6_K}, {15, "Q8_K", 256, 292, -1},
    {16, "IQ2_XXS", 256, 66, -1},       {17, "IQ2_XS", 256, 74, -1},
    {18, "IQ3_XXS", 256, 98, -1},       {19, "IQ1_S", 256, 50, -1},
    {20, "IQ4_NL", 32, 18, -1},         {21, "IQ3_S", 256, 110, -1},
    {22, "IQ2_S", 256, 82, -1},         {23, "IQ4_XS", 256, 136, -1},
    {24, "I8", 1, 1, -1},               {25, "I16", 1, 2, -1},
    {26, "I32", 1, 4, PLINTH_I32},      {27, "I64", 1, 8, -1},
    {28, "F64", 1, 8, -1},              {29, "IQ1_M", 256, 56, -1},
    {30, "BF16", 1, 2, PLINTH_BF16},    {34, "TQ1_0", 256, 54, -1},
    {35, "TQ2_0", 256, 66, -1},         {39, "MXFP4", 32, 17, -1},
    {40, "NVFP4", 64, 36, -1},          {41, "Q1_0", 128, 18, -1},
    {42, "Q2_0", 64, 18, -1},
};

const gguf_type_info *gguf_type_find(int32_t id)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].id == id)
            return &types[i];
    return NULL;
}

const gguf_type_info *gguf_type_of_dtype(int32_t dtype)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (dtype >= 0 && types[i].dtype == dtype)
            return &types[i];
    return NULL;
}

uint64_t gguf_type_row_bytes(const gguf_type_info *t, int64_t n)
{
    if (t->dtype >= 0)
        return plinth_dtype_row_bytes(t->dtype, n);
    /* A type plinth does not compute with: the same arithmetic, from the
     * table. */
    if (n < 0 || (uint64_t)n % t->block_elems != 0 ||
        (uint64_t)n / t->block_elems > UINT64_MAX / t->block_bytes)
        return 0;
    return (uint64_t)n / t->block_elems * t->block_bytes;
}

bool gguf_host_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}
