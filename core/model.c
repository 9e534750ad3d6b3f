/* STUB: to be replaced by its owner. Every function fails. */
#include "internal.h"

plinth_status plinth_model_create(plinth_backend *backend, plinth_model **out)
{ (void)backend;(void)out; return PLINTH_ERR_INTERNAL; }

void plinth_model_destroy(plinth_model *model)
{ (void)model; }

plinth_status plinth_model_load_safetensors(plinth_model *model, const char *path, const plinth_load_options *opts)
{ (void)model;(void)path;(void)opts; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_model_load_empty(plinth_model *model)
{ (void)model; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_model_set_param(plinth_model *model, const char *name, const void *data, size_t bytes)
{ (void)model;(void)name;(void)data;(void)bytes; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_model_reset_state(plinth_model *model)
{ (void)model; return PLINTH_ERR_INTERNAL; }

int32_t model_tensor_register(plinth_model *model, const char *name, int32_t kind, int32_t dtype, int32_t ndim, const int64_t *shape, const void *const_data)
{ (void)model;(void)name;(void)kind;(void)dtype;(void)ndim;(void)shape;(void)const_data; return -1; }

