/* STUB: to be replaced by its owner. Every function fails. */
#include "internal.h"

plinth_status plinth_program_compile(plinth_model *model, const plinth_graph *g, const plinth_compile_options *opts, plinth_program **out)
{ (void)model;(void)g;(void)opts;(void)out; return PLINTH_ERR_INTERNAL; }

