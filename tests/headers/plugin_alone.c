/* plinth_plugin.h must compile on its own: a plugin author includes nothing
 * else. The checks below run as a test so the file is not only compiled. */
#include "plinth_plugin.h"

_Static_assert(PLINTH_ALIGNMENT == 256, "the alignment contract is 256 bytes");
_Static_assert(sizeof(plinth_attrs) == 64, "plinth_attrs has a fixed ABI size");
_Static_assert(PLINTH_OP_ARGMAX == 17, "op numbers are ABI: append only");
_Static_assert(PLINTH_OP_ROPE_FACTORS == 18, "appended after argmax");
_Static_assert(PLINTH_I32 == 3, "dtype numbers are ABI: append only");

int main(void)
{
    /* Every op's input range fits PLINTH_MAX_INPUTS. */
    static const int max_in[] = {
#define X(E, n, lo, hi) hi,
        PLINTH_OP_LIST(X)
#undef X
    };
    for (unsigned i = 0; i < sizeof max_in / sizeof max_in[0]; i++)
        if (max_in[i] > PLINTH_MAX_INPUTS)
            return 1;
    return sizeof max_in / sizeof max_in[0] == PLINTH_OP_COUNT ? 0 : 1;
}
