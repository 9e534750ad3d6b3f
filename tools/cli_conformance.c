/* STUB: `plinth conformance` lands with tools/conformance. */
#include "cli.h"

#include <stdio.h>

int cli_conformance(cli_options *o, int argc, char **argv)
{
    (void)o; (void)argc; (void)argv;
    fprintf(stderr, "plinth: 'conformance' is not built yet\n");
    return 2;
}
