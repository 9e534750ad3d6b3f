/* STUB: to be replaced by its owner. Every function fails. */
#include "loader.h"

plinth_status loader_open(plinth_context *ctx, const char *path, plinth_plugin **out)
{ (void)ctx;(void)path;(void)out; return PLINTH_ERR_INTERNAL; }

void loader_close(plinth_plugin *p)
{ (void)p; }

const plinth_backend_api *loader_api(const plinth_plugin *p)
{ (void)p; return NULL; }

const char *loader_path(const plinth_plugin *p)
{ (void)p; return ""; }

plinth_status loader_scan(plinth_context *ctx)
{ (void)ctx; return PLINTH_ERR_INTERNAL; }

void loader_unload_all(plinth_context *ctx)
{ (void)ctx; }

plinth_status backend_buffer_alloc(plinth_backend *b, uint64_t size, plinth_buffer *out)
{ (void)b;(void)size;(void)out; return PLINTH_ERR_INTERNAL; }

void backend_buffer_free(plinth_backend *b, plinth_buffer *buf)
{ (void)b;(void)buf; }

plinth_status backend_upload(plinth_backend *b, const plinth_buffer *dst, uint64_t offset, const void *src, uint64_t size)
{ (void)b;(void)dst;(void)offset;(void)src;(void)size; return PLINTH_ERR_INTERNAL; }

plinth_status backend_download(plinth_backend *b, const plinth_buffer *src, uint64_t offset, void *dst, uint64_t size)
{ (void)b;(void)src;(void)offset;(void)dst;(void)size; return PLINTH_ERR_INTERNAL; }

plinth_status backend_zero(plinth_backend *b, const plinth_buffer *dst, uint64_t offset, uint64_t size)
{ (void)b;(void)dst;(void)offset;(void)size; return PLINTH_ERR_INTERNAL; }

bool backend_supports(plinth_backend *b, uint32_t op, const plinth_view *out, const plinth_view *in, uint32_t n_in, const void *attrs)
{ (void)b;(void)op;(void)out;(void)in;(void)n_in;(void)attrs; return false; }

plinth_kernel_fn backend_kernel(plinth_backend *b, uint32_t op)
{ (void)b;(void)op; return NULL; }

bool backend_has_program_path(const plinth_backend *b)
{ (void)b; return false; }

plinth_status backend_prepare(plinth_backend *b, const plinth_instruction *code, uint32_t n, void **out_program)
{ (void)b;(void)code;(void)n;(void)out_program; return PLINTH_ERR_INTERNAL; }

plinth_status backend_execute(plinth_backend *b, void *program)
{ (void)b;(void)program; return PLINTH_ERR_INTERNAL; }

void backend_release(plinth_backend *b, void *program)
{ (void)b;(void)program; }

plinth_status backend_synchronize(plinth_backend *b)
{ (void)b; return PLINTH_ERR_INTERNAL; }

const char *backend_last_error(plinth_backend *b)
{ (void)b; return ""; }

