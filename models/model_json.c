/*
 * model_json.c — model_json_enter/leave inside libplinth: the core's cJSON
 * router (core/context.c), so the model code's JSON comes from the context
 * too. Compiled into libplinth only (lm_api_lib); see model_mem.h.
 */
#include "model_mem.h"

#include "internal.h"

plinth_context *model_json_enter(plinth_context *ctx) { return json_enter(ctx); }

void model_json_leave(plinth_context *prev) { json_leave(prev); }
