/* STUB: to be replaced by its owner. Every function fails. */
#include "internal.h"

plinth_status program_bind(plinth_program *prog)
{ (void)prog; return PLINTH_ERR_INTERNAL; }

plinth_status program_run_folds(plinth_program *prog)
{ (void)prog; return PLINTH_ERR_INTERNAL; }

void plinth_program_destroy(plinth_program *prog)
{ (void)prog; }

uint32_t plinth_program_input_count(const plinth_program *prog)
{ (void)prog; return 0; }

uint32_t plinth_program_output_count(const plinth_program *prog)
{ (void)prog; return 0; }

int32_t plinth_program_input_index(const plinth_program *prog, const char *name)
{ (void)prog;(void)name; return -1; }

int32_t plinth_program_output_index(const plinth_program *prog, const char *name)
{ (void)prog;(void)name; return -1; }

plinth_status plinth_program_input_info(const plinth_program *prog, uint32_t index, plinth_node_info *out)
{ (void)prog;(void)index;(void)out; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_program_output_info(const plinth_program *prog, uint32_t index, plinth_node_info *out)
{ (void)prog;(void)index;(void)out; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_program_set_input(plinth_program *prog, uint32_t index, const void *data, size_t bytes)
{ (void)prog;(void)index;(void)data;(void)bytes; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_program_run(plinth_program *prog)
{ (void)prog; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_program_get_output(plinth_program *prog, uint32_t index, void *data, size_t bytes)
{ (void)prog;(void)index;(void)data;(void)bytes; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_program_plan_stats(const plinth_program *prog, plinth_plan_stats *out)
{ (void)prog;(void)out; return PLINTH_ERR_INTERNAL; }

plinth_status plinth_program_plan_json(const plinth_program *prog, char **out_json)
{ (void)prog;(void)out_json; return PLINTH_ERR_INTERNAL; }

