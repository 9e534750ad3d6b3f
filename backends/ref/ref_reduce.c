/* STUB: to be replaced by its owner. */
typedef int stub_ref_reduce;
