/* STUB: to be replaced by its owner. Every function fails. */
#include "internal.h"

plinth_status plinth_plugins_scan(plinth_context *ctx)
{ (void)ctx; return PLINTH_ERR_INTERNAL; }

uint32_t plinth_plugin_count(const plinth_context *ctx)
{ (void)ctx; return 0; }

plinth_status plinth_plugin_query(const plinth_context *ctx, uint32_t index, plinth_plugin_report *out)
{ (void)ctx;(void)index;(void)out; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_plugin_device_info(plinth_context *ctx, uint32_t plugin, uint32_t device, plinth_device_info *out)
{ (void)ctx;(void)plugin;(void)device;(void)out; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_backend_open(plinth_context *ctx, const char *name, uint32_t device, const plinth_device_options *opts, plinth_backend **out)
{ (void)ctx;(void)name;(void)device;(void)opts;(void)out; return PLINTH_ERR_INTERNAL; }

void plinth_backend_close(plinth_backend *backend)
{ (void)backend; }

const char *plinth_backend_name(const plinth_backend *backend)
{ (void)backend; return ""; }

