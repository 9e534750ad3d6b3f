/*
 * vulkan_shaders.c — the embedded SPIR-V, one array per .comp in shaders/,
 * compiled at build time by glslangValidator (backends/vulkan/meson.build).
 *
 * Sections: the generated headers; the tables indexed by enum vulkan_shader
 * (device-address and descriptor builds of each shader).
 * The generated arrays have external linkage: include each header here
 * only (the plugin's hidden visibility keeps them unexported).
 */
#include "vulkan.h"

#include <stdint.h>

#include "add_spv.h"
#include "argmax_spv.h"
#include "attention_spv.h"
#include "attention_lanes_spv.h"
#include "cast_spv.h"
#include "concat_spv.h"
#include "copy_spv.h"
#include "dequant_spv.h"
#include "div_spv.h"
#include "gelu_tanh_spv.h"
#include "get_rows_spv.h"
#include "matmul_spv.h"
#include "matmul_i64_spv.h"
#include "matmul_q_spv.h"
#include "matmul_q_kn_spv.h"
#include "matmul_tiled_spv.h"
#include "matmul_vec_spv.h"
#include "matmul_vec_i64_spv.h"
#include "matvec_q_spv.h"
#include "matvec_q_i64_spv.h"
#include "mul_spv.h"
#include "rms_norm_spv.h"
#include "rope_spv.h"
#include "scale_spv.h"
#include "set_rows_spv.h"
#include "silu_spv.h"
#include "softmax_spv.h"
#include "sub_spv.h"
#include "add_desc_spv.h"
#include "argmax_desc_spv.h"
#include "attention_desc_spv.h"
#include "attention_lanes_desc_spv.h"
#include "cast_desc_spv.h"
#include "concat_desc_spv.h"
#include "copy_desc_spv.h"
#include "dequant_desc_spv.h"
#include "div_desc_spv.h"
#include "gelu_tanh_desc_spv.h"
#include "get_rows_desc_spv.h"
#include "matmul_desc_spv.h"
#include "matmul_i64_desc_spv.h"
#include "matmul_q_desc_spv.h"
#include "matmul_q_kn_desc_spv.h"
#include "matmul_tiled_desc_spv.h"
#include "matmul_vec_desc_spv.h"
#include "matmul_vec_i64_desc_spv.h"
#include "matvec_q_desc_spv.h"
#include "matvec_q_i64_desc_spv.h"
#include "mul_desc_spv.h"
#include "rms_norm_desc_spv.h"
#include "rope_desc_spv.h"
#include "scale_desc_spv.h"
#include "set_rows_desc_spv.h"
#include "silu_desc_spv.h"
#include "softmax_desc_spv.h"
#include "sub_desc_spv.h"

#define SH(E, n) [VULKAN_SH_##E] = {#n, n##_spv, sizeof n##_spv}

const vulkan_spirv vulkan_shaders[VULKAN_SH_COUNT] = {
    SH(ADD, add), SH(SUB, sub), SH(MUL, mul), SH(DIV, div), SH(SCALE, scale),
    SH(GELU_TANH, gelu_tanh), SH(SILU, silu), SH(RMS_NORM, rms_norm),
    SH(SOFTMAX, softmax), SH(ARGMAX, argmax), SH(MATMUL, matmul),
    SH(MATMUL_I64, matmul_i64), SH(MATMUL_TILED, matmul_tiled), SH(MATMUL_VEC, matmul_vec),
    SH(MATMUL_VEC_I64, matmul_vec_i64), SH(GET_ROWS, get_rows),
    SH(SET_ROWS, set_rows), SH(ROPE, rope), SH(ATTENTION, attention),
    SH(ATTENTION_LANES, attention_lanes), SH(CAST, cast), SH(COPY, copy), SH(CONCAT, concat),
    SH(MATVEC_Q, matvec_q), SH(MATVEC_Q_I64, matvec_q_i64), SH(MATMUL_Q, matmul_q),
    SH(MATMUL_Q_KN, matmul_q_kn),
    SH(DEQUANT, dequant),
};

#undef SH
#define SH(E, n) [VULKAN_SH_##E] = {#n, n##_desc_spv, sizeof n##_desc_spv}

const vulkan_spirv vulkan_shaders_desc[VULKAN_SH_COUNT] = {
    SH(ADD, add), SH(SUB, sub), SH(MUL, mul), SH(DIV, div), SH(SCALE, scale),
    SH(GELU_TANH, gelu_tanh), SH(SILU, silu), SH(RMS_NORM, rms_norm),
    SH(SOFTMAX, softmax), SH(ARGMAX, argmax), SH(MATMUL, matmul),
    SH(MATMUL_I64, matmul_i64), SH(MATMUL_TILED, matmul_tiled), SH(MATMUL_VEC, matmul_vec),
    SH(MATMUL_VEC_I64, matmul_vec_i64), SH(GET_ROWS, get_rows),
    SH(SET_ROWS, set_rows), SH(ROPE, rope), SH(ATTENTION, attention),
    SH(ATTENTION_LANES, attention_lanes), SH(CAST, cast), SH(COPY, copy), SH(CONCAT, concat),
    SH(MATVEC_Q, matvec_q), SH(MATVEC_Q_I64, matvec_q_i64), SH(MATMUL_Q, matmul_q),
    SH(MATMUL_Q_KN, matmul_q_kn),
    SH(DEQUANT, dequant),
};
