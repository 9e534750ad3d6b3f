/* STUB: to be replaced by its owner. Every function fails. */
#include "safetensors.h"

plinth_status st_open(plinth_context *ctx, const char *path, st_dict **out)
{ (void)ctx;(void)path;(void)out; return PLINTH_ERR_INTERNAL; }

void st_close(st_dict *d)
{ (void)d; }

uint32_t st_count(const st_dict *d)
{ (void)d; return 0; }

st_tensor *st_at(st_dict *d, uint32_t index)
{ (void)d;(void)index; return NULL; }

st_tensor *st_find(st_dict *d, const char *name)
{ (void)d;(void)name; return NULL; }

