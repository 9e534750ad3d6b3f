/* STUB: sampling lands here. */
typedef int stub_sampling;
