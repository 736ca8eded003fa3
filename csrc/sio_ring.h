/* sio_ring.h - single-producer single-consumer byte ring.
 *
 * One thread (the port reader) writes, another (the parser) reads, without
 * locks: each side owns one index and publishes it with release ordering.
 * Indices run freely and are masked on use, so a power-of-two capacity holds
 * exactly that many bytes (no slot is lost telling full from empty).
 * Writing never blocks: what does not fit is dropped and counted, and the
 * position of the loss is queued as a discontinuity mark so the consumer can
 * drop a frame that straddles it instead of splicing two halves together.
 * Memory is the caller's.
 */
#ifndef SIO_RING_H
#define SIO_RING_H

#include <stddef.h>
#include <stdint.h>

#include "sio_atomic.h"

#define SIO_RING_MARKS 16 /* power of two */

/* CFFI_BEGIN */
typedef struct sio_ring sio_ring;

/* Bytes to allocate for a sio_ring struct (the caller owns that memory). */
size_t sio_ring_struct_size(void);
/* Initialises r over buf[0..cap). cap must be a power of two >= 2.
 * Returns 0, or -1 if cap is not a power of two. */
int sio_ring_init(sio_ring *r, uint8_t *buf, size_t cap);
size_t sio_ring_capacity(const sio_ring *r);
/* Bytes readable now (consumer) / writable now (producer). */
size_t sio_ring_used(const sio_ring *r);
size_t sio_ring_free(const sio_ring *r);

/* Producer: copies up to len bytes in; the rest is dropped, counted, and
 * marked. Returns bytes stored. */
size_t sio_ring_write(sio_ring *r, const uint8_t *data, size_t len);
/* Producer, zero-copy: a pointer to the longest contiguous free block and
 * its length; then commit how many bytes were written there. */
uint8_t *sio_ring_write_block(sio_ring *r, size_t *len);
void sio_ring_write_commit(sio_ring *r, size_t n);
/* Producer: record that n bytes were lost at the current write position
 * (for example a reader that could not keep up). */
void sio_ring_note_loss(sio_ring *r, size_t n);

/* Consumer, zero-copy: the longest contiguous readable block, but never past
 * the next discontinuity mark; *at_mark is set to 1 if the block ends at one
 * (the caller must call sio_ring_pop_mark after consuming it). */
const uint8_t *sio_ring_read_block(sio_ring *r, size_t *len, int *at_mark);
void sio_ring_read_commit(sio_ring *r, size_t n);
/* Consumer: removes the mark at the read position; returns the bytes lost
 * there. */
uint64_t sio_ring_pop_mark(sio_ring *r);
/* Consumer: when everything written has been consumed and no mark is
 * queued, takes the loss that happened at the write position but could not
 * be queued yet (the mark queue was full); returns its bytes, else 0. */
uint64_t sio_ring_claim_loss(sio_ring *r);
/* Consumer: copies up to len bytes out, stopping at a mark. */
size_t sio_ring_read(sio_ring *r, uint8_t *out, size_t len);

/* Totals since init (readable from either thread). */
uint64_t sio_ring_overflow_bytes(const sio_ring *r);
uint64_t sio_ring_overflow_events(const sio_ring *r);
/* CFFI_END */

struct sio_ring {
    uint8_t *buf;
    size_t mask;
    sio_atomic_size head;  /* written by the producer: bytes ever stored */
    sio_atomic_size tail;  /* written by the consumer: bytes ever consumed */
    /* discontinuity marks: a queue of stream positions, producer pushes */
    size_t mark_pos[SIO_RING_MARKS];
    size_t mark_lost[SIO_RING_MARKS];
    sio_atomic_size mark_head;
    sio_atomic_size mark_tail;
    /* loss at the write position not yet queued as a mark: the producer
     * queues it before its next write, or the consumer claims it once it has
     * read everything; whoever exchanges it to zero first owns it */
    sio_atomic_size pending_lost;
    sio_atomic_size overflow_bytes; /* size_t-wide running totals */
    sio_atomic_size overflow_events;
};

#endif
