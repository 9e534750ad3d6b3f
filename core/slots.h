/*
 * slots.h — the one layer through which the core calls a plugin slot
 * (core code; never installed).
 *
 * Nothing outside slots.c dereferences a plugin's table. Each wrapper checks
 * that the slot is there (reading an optional slot only when the table's
 * struct_size covers it), supplies the default of an absent optional slot,
 * checks what the plugin hands back (statuses, the allocator's alignment and
 * size, device counts, strings), and turns a failure into a context error
 * naming the backend and carrying the plugin's own message. The executor's
 * loop lives here too: kernels are plugin slots.
 *
 * Plugin log lines reach the context through the instance's host (its
 * `user` is the context), so no wrapper has to record who is calling.
 */
#ifndef PLINTH_SLOTS_H
#define PLINTH_SLOTS_H

#include "internal.h"

/* ------------------------------------------- instance (in loader.c) --- */

/* Creates p's instance (p->host filled). */
plinth_status slot_instance_create(plinth_plugin *p);
void slot_instance_destroy(plinth_plugin *p);
/* device_count(), refused above PLINTH_MAX_DEVICES. */
plinth_status slot_device_count(plinth_plugin *p, uint32_t *out);
/* The one-line reason for no devices ("" if the plugin says none). */
void slot_unavailable_reason(plinth_plugin *p, char *buf, size_t size);
plinth_status slot_device_info(plinth_plugin *p, uint32_t index, plinth_device_info *out);
plinth_status slot_device_open(plinth_plugin *p, uint32_t index,
                               const plinth_device_options *opts, plinth_device **out);
void slot_device_close(plinth_backend *b);
/* device_caps() (0 when the slot is absent). */
uint64_t slot_device_caps(plinth_backend *b);
/* device_describe() of the open device; device_info() of its index when
 * the slot is absent. */
plinth_status slot_device_describe(plinth_backend *b, plinth_device_info *out);
/* Whether the backend has both packing slots; pack_size() (0 without
 * them) and pack(). */
bool slot_has_pack(const plinth_backend *b);
uint64_t slot_pack_size(plinth_backend *b, uint32_t op, uint32_t input, const plinth_view *out,
                        const plinth_view *in, uint32_t n_in, const void *attrs);
plinth_status slot_pack(plinth_backend *b, uint32_t op, uint32_t input, const plinth_view *plain,
                        const plinth_view *packed);

/* ------------------------------------------------------ on a device --- */

plinth_status slot_buffer_alloc(plinth_backend *b, uint64_t size, plinth_buffer *out);
void slot_buffer_free(plinth_backend *b, plinth_buffer *buf); /* NULL-safe, zeroes */
plinth_status slot_upload(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                          const void *src, uint64_t size);
plinth_status slot_download(plinth_backend *b, const plinth_buffer *src, uint64_t offset,
                            void *dst, uint64_t size);
/* Fills `size` bytes with zeros (through upload: works for device memory). */
plinth_status slot_zero(plinth_backend *b, const plinth_buffer *dst, uint64_t offset,
                        uint64_t size);

/* false for ops the plugin's table lacks, or whose supports() says no. */
bool slot_supports(plinth_backend *b, uint32_t op, const plinth_view *out, const plinth_view *in,
                   uint32_t n_in, const void *attrs);
plinth_kernel_fn slot_kernel(const plinth_backend *b, uint32_t op);

/* The static executor: one flat loop over the resolved instructions
 * [first, first + n) of `code` (`fn` filled at bind), then synchronize. A
 * kernel's error stops it, naming `what` and the instruction's index, op
 * and node. */
plinth_status slot_run_list(plinth_backend *b, const instruction *code, uint32_t first,
                            uint32_t n, const char *what);
/* Copies the bytes `src` (a view on backend sb) spans into `dst` (on db):
 * from the source's host memory by db's upload, else into the
 * destination's host memory by sb's download, else through `staging`
 * (staging_size bytes of host memory, at least the transfer). */
plinth_status slot_transfer(plinth_backend *sb, const plinth_view *src, plinth_backend *db,
                            const plinth_view *dst, uint8_t *staging, uint64_t staging_size);
/* One kernel call (plinth_backend_run_op), then synchronize. */
plinth_status slot_run_kernel(plinth_backend *b, uint32_t op, const plinth_view *out,
                              const plinth_view *in, uint32_t n_in, const void *attrs);

bool slot_has_program_path(const plinth_backend *b);
/* Without a program path: *out_program = NULL and OK (the executor runs
 * the kernels). */
plinth_status slot_prepare(plinth_backend *b, const plinth_instruction *code, uint32_t n,
                           void **out_program);
plinth_status slot_execute(plinth_backend *b, void *program);
void slot_release(plinth_backend *b, void *program);
plinth_status slot_synchronize(plinth_backend *b);

#endif /* PLINTH_SLOTS_H */
