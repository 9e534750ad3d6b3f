/* STUB: the conformance suite library lands here. */
typedef int stub_conformance;
