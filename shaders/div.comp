#version 450
#extension GL_GOOGLE_include_directive : require
// div.comp — out = a / b (see binary.glsl). i32: truncates toward zero,
// x / 0 = 0, INT_MIN / -1 = INT_MIN (wraps).
#define FOP(x, y) ((x) / (y))
int idiv(int x, int y)
{
    if (y == 0)
        return 0;
    if (y == -1)
        return -x; // wraps for INT_MIN, as in two's complement
    return x / y;
}
#define IOP(x, y) idiv(x, y)
#include "binary.glsl"
