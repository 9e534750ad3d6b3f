/* STUB */
typedef int stub_template;
