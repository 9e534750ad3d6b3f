/*
 * model_json_none.c — model_json_enter/leave for a static copy of the model
 * code beside libplinth (tools, tests, fuzz harnesses): the core's router
 * is hidden inside libplinth, so these route nothing and cJSON allocates
 * from the C library, trees made and freed alike. See model_mem.h.
 */
#include "model_mem.h"

plinth_context *model_json_enter(plinth_context *ctx)
{
    (void)ctx;
    return NULL;
}

void model_json_leave(plinth_context *prev) { (void)prev; }
