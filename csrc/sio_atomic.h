/* sio_atomic.h - the one place that knows how this compiler spells atomics.
 *
 * The byte ring needs exactly two things: a relaxed load of its own index and
 * acquire/release publication of the index the other thread reads.  C11
 * <stdatomic.h> gives both on gcc and clang; MSVC before C11 atomics and
 * 8-bit targets without them get a fallback that is correct for a single
 * producer and a single consumer on one core (the firmware) or under MSVC's
 * volatile semantics (/volatile:ms, the x86/x64 default).
 */
#ifndef SIO_ATOMIC_H
#define SIO_ATOMIC_H

#include <stddef.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
typedef atomic_size_t sio_atomic_size;
#define sio_atomic_init(p, v) atomic_init((p), (v))
#define sio_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define sio_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define sio_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define sio_fetch_add(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define sio_exchange(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)
#else
typedef volatile size_t sio_atomic_size;
#define sio_atomic_init(p, v) (*(p) = (v))
#define sio_load_relaxed(p) (*(p))
#define sio_load_acquire(p) (*(p))
#define sio_store_release(p, v) (*(p) = (v))
/* not atomic: enough on one core with the consumer outside interrupts */
static inline size_t sio_fetch_add_plain(volatile size_t *p, size_t v) { size_t o = *p; *p = o + v; return o; }
static inline size_t sio_exchange_plain(volatile size_t *p, size_t v) { size_t o = *p; *p = v; return o; }
#define sio_fetch_add(p, v) sio_fetch_add_plain((p), (v))
#define sio_exchange(p, v) sio_exchange_plain((p), (v))
#endif

#endif
