/*
 * test_abi_layout.c — ABI v1 is frozen: every field of every struct that
 * crosses the plugin boundary keeps its offset and size, every struct its
 * size (frozen ones) or at least its v1 size (sized ones grow only by
 * appending), and every op, dtype and status its number. Any incompatible
 * edit of plinth_plugin.h fails here. The figures are those of LP64
 * (x86-64, aarch64): the ABI plinth ships.
 *
 * When a field is appended by the growth rules, add its line below and keep
 * every existing line as it is.
 */
#include "plinth.h"

#include <criterion/criterion.h>

#include <stddef.h>

/* STRUCT: a frozen struct, exactly this size. SIZED: a sized struct
 * (struct_size first) whose v1 fields take `size` bytes; it may grow. */
#define STRUCT(type, size) \
    cr_expect_eq(sizeof(type), (size_t)(size), #type ": sizeof %zu, v1 has %d", sizeof(type), size)
#define SIZED(type, size)                                                                 \
    cr_expect_geq(sizeof(type), (size_t)(size), #type ": sizeof %zu < its v1 size %d",        \
                  sizeof(type), size)
#define FIELD(type, field, off, size)                                                         \
    do {                                                                                      \
        cr_expect_eq(offsetof(type, field), (size_t)(off), #type "." #field ": offset %zu, v1 " \
                     "has %d", offsetof(type, field), off);                                   \
        cr_expect_eq(sizeof(((type *)0)->field), (size_t)(size),                              \
                     #type "." #field ": size %zu, v1 has %d", sizeof(((type *)0)->field),    \
                     size);                                                                   \
    } while (0)

Test(abi, v1_struct_layouts)
{
    STRUCT(plinth_buffer, 24);
    FIELD(plinth_buffer, handle, 0, 8);
    FIELD(plinth_buffer, host, 8, 8);
    FIELD(plinth_buffer, size, 16, 8);
    STRUCT(plinth_view, 104);
    FIELD(plinth_view, buffer, 0, 8);
    FIELD(plinth_view, data, 8, 8);
    FIELD(plinth_view, base, 16, 8);
    FIELD(plinth_view, offset, 24, 8);
    FIELD(plinth_view, dtype, 32, 4);
    FIELD(plinth_view, ndim, 36, 4);
    FIELD(plinth_view, shape, 40, 32);
    FIELD(plinth_view, stride, 72, 32);
    SIZED(plinth_host, 48);
    FIELD(plinth_host, struct_size, 0, 4);
    FIELD(plinth_host, abi_version, 4, 4);
    FIELD(plinth_host, user, 8, 8);
    FIELD(plinth_host, log, 16, 8);
    FIELD(plinth_host, malloc, 24, 8);
    FIELD(plinth_host, realloc, 32, 8);
    FIELD(plinth_host, free, 40, 8);
    SIZED(plinth_device_info, 656);
    FIELD(plinth_device_info, struct_size, 0, 4);
    FIELD(plinth_device_info, name, 4, 128);
    FIELD(plinth_device_info, description, 132, 256);
    FIELD(plinth_device_info, type, 388, 4);
    FIELD(plinth_device_info, memory_bytes, 392, 8);
    FIELD(plinth_device_info, features, 400, 256);
    FIELD(plinth_device_info, precision, 656, 128); /* appended (issue 17) */
    SIZED(plinth_device_options, 16);
    FIELD(plinth_device_options, struct_size, 0, 4);
    FIELD(plinth_device_options, n_threads, 4, 4);
    FIELD(plinth_device_options, config, 8, 8);
    FIELD(plinth_device_options, precision, 16, 4); /* appended (issue 17) */
    STRUCT(plinth_instruction, 32);
    FIELD(plinth_instruction, op, 0, 4);
    FIELD(plinth_instruction, n_in, 4, 4);
    FIELD(plinth_instruction, out, 8, 8);
    FIELD(plinth_instruction, in, 16, 8);
    FIELD(plinth_instruction, attrs, 24, 8);
    SIZED(plinth_backend_api, 192);
    FIELD(plinth_backend_api, struct_size, 0, 4);
    FIELD(plinth_backend_api, abi_version, 4, 4);
    FIELD(plinth_backend_api, name, 8, 8);
    FIELD(plinth_backend_api, version, 16, 8);
    FIELD(plinth_backend_api, description, 24, 8);
    FIELD(plinth_backend_api, instance_create, 32, 8);
    FIELD(plinth_backend_api, instance_destroy, 40, 8);
    FIELD(plinth_backend_api, instance_error, 48, 8);
    FIELD(plinth_backend_api, device_count, 56, 8);
    FIELD(plinth_backend_api, device_info, 64, 8);
    FIELD(plinth_backend_api, device_open, 72, 8);
    FIELD(plinth_backend_api, device_close, 80, 8);
    FIELD(plinth_backend_api, device_error, 88, 8);
    FIELD(plinth_backend_api, buffer_alloc, 96, 8);
    FIELD(plinth_backend_api, buffer_free, 104, 8);
    FIELD(plinth_backend_api, upload, 112, 8);
    FIELD(plinth_backend_api, download, 120, 8);
    FIELD(plinth_backend_api, supports, 128, 8);
    FIELD(plinth_backend_api, op_count, 136, 4);
    FIELD(plinth_backend_api, kernels, 144, 8);
    FIELD(plinth_backend_api, unavailable_reason, 152, 8);
    FIELD(plinth_backend_api, prepare, 160, 8);
    FIELD(plinth_backend_api, execute, 168, 8);
    FIELD(plinth_backend_api, release, 176, 8);
    FIELD(plinth_backend_api, synchronize, 184, 8);
    FIELD(plinth_backend_api, device_caps, 192, 8); /* appended (issue 12) */
    FIELD(plinth_backend_api, device_describe, 200, 8); /* appended (issue 17) */
    FIELD(plinth_backend_api, pack_size, 208, 8); /* appended (issue 17) */
    FIELD(plinth_backend_api, pack, 216, 8);
    STRUCT(plinth_attr_scale, 4);
    FIELD(plinth_attr_scale, s, 0, 4);
    STRUCT(plinth_attr_rms_norm, 4);
    FIELD(plinth_attr_rms_norm, eps, 0, 4);
    STRUCT(plinth_attr_softmax, 4);
    FIELD(plinth_attr_softmax, scale, 0, 4);
    /* attr structs grow by appending a member whose 0 is v1 (the header's
     * growth rules), so matmul's and get_rows' are checked as sized since
     * issue 17 */
    SIZED(plinth_attr_matmul, 4);
    FIELD(plinth_attr_matmul, transpose_b, 0, 4);
    FIELD(plinth_attr_matmul, b_packed, 4, 4); /* appended (issue 17) */
    SIZED(plinth_attr_get_rows, 4);
    FIELD(plinth_attr_get_rows, dtype, 0, 4);
    FIELD(plinth_attr_get_rows, table_packed, 4, 4); /* appended (issue 17) */
    STRUCT(plinth_attr_rope, 8);
    FIELD(plinth_attr_rope, base, 0, 4);
    FIELD(plinth_attr_rope, n_dims, 4, 4);
    STRUCT(plinth_attr_attention, 8);
    FIELD(plinth_attr_attention, scale, 0, 4);
    FIELD(plinth_attr_attention, window, 4, 4);
    STRUCT(plinth_attr_cast, 4);
    FIELD(plinth_attr_cast, dtype, 0, 4);
    STRUCT(plinth_attr_concat, 4);
    FIELD(plinth_attr_concat, axis, 0, 4);
    STRUCT(plinth_attrs, 64);
}

Test(abi, v1_numbers)
{
    cr_expect_eq(PLINTH_ABI_VERSION, 1u);
    cr_expect_eq(PLINTH_ALIGNMENT, 256u);
    cr_expect_eq(PLINTH_MAX_DIMS, 4);
    cr_expect_eq(PLINTH_MAX_INPUTS, 5);
    cr_expect_eq(PLINTH_MAX_DEVICES, 64u);
    cr_expect_eq(PLINTH_PRECISION_EXACT, 0); /* appended (issue 17): append only */
    cr_expect_eq(PLINTH_PRECISION_FAST, 1);
    /* Ops: append only. */
    const char *const v1_ops[] = {"add",     "sub",      "mul",      "div",     "scale",
                                  "gelu_tanh", "silu",   "rms_norm", "softmax", "matmul",
                                  "get_rows", "set_rows", "rope",    "attention", "cast",
                                  "copy",    "concat",   "argmax",   "rope_factors"};
    const int n_ops = (int)(sizeof v1_ops / sizeof v1_ops[0]);
    cr_expect_geq(PLINTH_OP_COUNT, n_ops);
    for (int i = 0; i < n_ops; i++)
        cr_expect_str_eq(plinth_op_name((plinth_op)i), v1_ops[i], "op %d", i);
    cr_expect_eq(PLINTH_OP_ADD, 0);
    cr_expect_eq(PLINTH_OP_MATMUL, 9);
    cr_expect_eq(PLINTH_OP_ATTENTION, 13);
    cr_expect_eq(PLINTH_OP_ARGMAX, 17);
    cr_expect_eq(PLINTH_OP_ROPE_FACTORS, 18); /* appended by the growth rules */
    /* Dtypes and statuses: append only. */
    cr_expect_eq(PLINTH_F32, 0);
    cr_expect_eq(PLINTH_F16, 1);
    cr_expect_eq(PLINTH_BF16, 2);
    cr_expect_eq(PLINTH_I32, 3);
    cr_expect_eq(PLINTH_Q8_0, 4); /* the block dtypes (issue 14) */
    cr_expect_eq(PLINTH_Q4_0, 5);
    cr_expect_eq(PLINTH_Q4_K, 6);
    cr_expect_eq(PLINTH_Q6_K, 7);
    cr_expect_eq(PLINTH_OK, 0);
    cr_expect_eq(PLINTH_ERR_INVALID, 1);
    cr_expect_eq(PLINTH_ERR_UNSUPPORTED, 2);
    cr_expect_eq(PLINTH_ERR_NO_MEMORY, 3);
    cr_expect_eq(PLINTH_ERR_IO, 4);
    cr_expect_eq(PLINTH_ERR_FORMAT, 5);
    cr_expect_eq(PLINTH_ERR_PLUGIN, 6);
    cr_expect_eq(PLINTH_ERR_DEVICE, 7);
    cr_expect_eq(PLINTH_ERR_INTERNAL, 8);
    cr_expect_eq(PLINTH_ERR_BUSY, 9);
    cr_expect_eq(PLINTH_LOG_ERROR, 0);
    cr_expect_eq(PLINTH_LOG_DEBUG, 3);
    cr_expect_eq(PLINTH_DEVICE_CPU, 0);
    cr_expect_eq(PLINTH_DEVICE_OTHER, 5);
    cr_expect_eq(PLINTH_CAP_HOST_MEMORY, 1u);
    cr_expect_eq(PLINTH_CAP_PACK_IN_PLACE, 2u); /* issue 17 */
}

/* The public structs a caller passes in or gets filled are sized too:
 * struct_size first, so an older caller's shorter struct keeps working. */
Test(abi, public_structs_are_sized)
{
    cr_expect_eq(offsetof(plinth_context_options, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_plugin_report, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_node_info, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_compile_options, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_load_options, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_plan_stats, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_backend_plan, struct_size), 0u);
    cr_expect_eq(offsetof(plinth_instruction_info, struct_size), 0u);
    /* plan_stats grew (issue 12) by appending: v1's fields keep their place. */
    cr_expect_eq(offsetof(plinth_plan_stats, n_views), 72u);
    cr_expect_gt(offsetof(plinth_plan_stats, n_transfers), offsetof(plinth_plan_stats, n_views));
}

/* The conversions every side shares round as documented. */
Test(abi, half_conversions)
{
    cr_expect_eq(plinth_f32_to_bf16(1.0f), 0x3f80);
    cr_expect_eq(plinth_f32_to_f16(1.0f), 0x3c00);
    cr_expect_eq(plinth_f32_to_f16(65520.0f), 0x7c00);     /* rounds to infinity */
    cr_expect_eq(plinth_f32_to_f16(5.9604645e-8f), 0x0001); /* smallest subnormal */
    cr_expect_eq(plinth_f32_to_f16(2.9802322e-8f), 0x0000); /* half of it: ties to even */
    cr_expect_float_eq(plinth_f16_to_f32(0x0001), 5.9604645e-8f, 0.0f);
    cr_expect_float_eq(plinth_f16_to_f32(0x3555), 0.333251953125f, 0.0f);
    cr_expect_float_eq(plinth_bf16_to_f32(0x4049), 3.140625f, 0.0f);
    /* bf16 ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 */
    cr_expect_eq(plinth_f32_to_bf16(1.00390625f), 0x3f80);
    /* NaN stays NaN */
    uint16_t n = plinth_f32_to_bf16(plinth_bits_to_f32(0x7f800001u));
    cr_expect((n & 0x7f80) == 0x7f80 && (n & 0x7f), "bf16 NaN lost: %04x", n);
    cr_expect_eq(plinth_f32_to_f16(plinth_bits_to_f32(0x7fc00000u)) & 0x7e00, 0x7e00);
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite f16 survives a round trip */
        cr_expect_eq(plinth_f32_to_f16(plinth_f16_to_f32((uint16_t)h)), h, "f16 %04x", h);
    cr_expect_eq(plinth_dtype_bytes(PLINTH_F32), 4u);
    cr_expect_eq(plinth_dtype_bytes(PLINTH_BF16), 2u);
    cr_expect_eq(plinth_dtype_bytes(PLINTH_DTYPE_COUNT), 0u);
}

/* The one dtype table: names, elements and bytes per block, row bytes
 * (ggml's block sizes: q8_0 2 + 32, q4_0 2 + 16, q4_K 2 + 2 + 12 + 128,
 * q6_K 128 + 64 + 16 + 2). */
Test(abi, dtype_table)
{
    static const struct {
        int32_t dt;
        const char *name;
        size_t elem_bytes, block_elems, block_bytes;
    } t[] = {
        {PLINTH_F32, "f32", 4, 1, 4},        {PLINTH_F16, "f16", 2, 1, 2},
        {PLINTH_BF16, "bf16", 2, 1, 2},      {PLINTH_I32, "i32", 4, 1, 4},
        {PLINTH_Q8_0, "q8_0", 0, 32, 34},    {PLINTH_Q4_0, "q4_0", 0, 32, 18},
        {PLINTH_Q4_K, "q4_K", 0, 256, 144},  {PLINTH_Q6_K, "q6_K", 0, 256, 210},
        {PLINTH_DTYPE_COUNT, "?", 0, 0, 0},  {-1, "?", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cr_expect_str_eq(plinth_dtype_label(t[i].dt), t[i].name, "dtype %d", t[i].dt);
        cr_expect_eq(plinth_dtype_bytes(t[i].dt), t[i].elem_bytes, "bytes of %s", t[i].name);
        cr_expect_eq(plinth_dtype_block_elems(t[i].dt), t[i].block_elems, "elems of %s",
                     t[i].name);
        cr_expect_eq(plinth_dtype_block_bytes(t[i].dt), t[i].block_bytes, "block of %s",
                     t[i].name);
        const int64_t n = 3 * (int64_t)(t[i].block_elems ? t[i].block_elems : 1);
        cr_expect_eq(plinth_dtype_row_bytes(t[i].dt, n), 3 * t[i].block_bytes, "row of %s",
                     t[i].name);
    }
    cr_expect_eq(PLINTH_DTYPE_COUNT, 8);
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_Q8_0, 2048), 64u * 34u);
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_Q4_K, 640), 0u); /* not whole blocks */
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_Q4_0, 33), 0u);
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_F32, -4), 0u);
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_F32, 0), 0u);
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_F32, INT64_MAX), 0u); /* would not fit */
    cr_expect_eq(plinth_dtype_row_bytes(PLINTH_Q6_K, INT64_MAX / 256 * 256),
                 (uint64_t)(INT64_MAX / 256) * 210u);
    float out[256];
    cr_expect(!plinth_dequant_block(PLINTH_F32, "", out), "f32 is not a block dtype");
}
