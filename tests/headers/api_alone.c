/* plinth.h must compile on its own (it brings in plinth_plugin.h). */
#include "plinth.h"

int main(void)
{
    return plinth_dtype_size(PLINTH_BF16) == 2 ? 0 : 1;
}
