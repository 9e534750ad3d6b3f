/* (a) Breaks rule 1: exports a function, but not plinth_plugin_entry. */
#include "plinth_plugin.h"

PLINTH_PLUGIN_EXPORT int plinth_plugin_entry_misspelled(void);

PLINTH_PLUGIN_EXPORT int plinth_plugin_entry_misspelled(void)
{
    return 0;
}
