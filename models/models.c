/* STUB: model builders land here. */
typedef int stub_models;
