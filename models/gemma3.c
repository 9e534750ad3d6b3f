/* STUB: the Gemma 3 builder lands here. */
typedef int stub_gemma3;
