// gelu.glsl — the tanh-approximated GELU, shared by gelu_tanh.comp and the
// fused gelu(a) * b of binary.glsl (the same code, so the same results):
// 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), computed as
// x * sigmoid(2u) = x / (1 + e^(-2u)), which is the same function: 1 +
// tanh(u) cancels for negative x (relative error 1e-4 at x = -3.5), the
// exponential does not. u is clamped so e^(-2u) stays finite.
float gelu(float x)
{
    float u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -40.0, 40.0);
    return x / (1.0 + exp(-2.0 * u));
}
