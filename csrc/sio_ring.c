/* sio_ring.c - SPSC byte ring; see sio_ring.h for the contract. */
#include "sio_ring.h"

#include <string.h>

size_t sio_ring_struct_size(void)
{
    return sizeof(sio_ring);
}

int sio_ring_init(sio_ring *r, uint8_t *buf, size_t cap)
{
    if (cap < 2 || (cap & (cap - 1)) != 0)
        return -1;
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->mask = cap - 1;
    sio_atomic_init(&r->head, 0);
    sio_atomic_init(&r->tail, 0);
    sio_atomic_init(&r->mark_head, 0);
    sio_atomic_init(&r->mark_tail, 0);
    sio_atomic_init(&r->overflow_bytes, 0);
    sio_atomic_init(&r->overflow_events, 0);
    sio_atomic_init(&r->pending_lost, 0);
    return 0;
}

size_t sio_ring_capacity(const sio_ring *r)
{
    return r->mask + 1;
}

size_t sio_ring_used(const sio_ring *r)
{
    return sio_load_acquire((sio_atomic_size *)&r->head) - sio_load_acquire((sio_atomic_size *)&r->tail);
}

size_t sio_ring_free(const sio_ring *r)
{
    return r->mask + 1 - sio_ring_used(r);
}

/* Producer: queue pending loss as a mark at the current head. Returns 0 if
 * the mark queue is full (then nothing may be written until it drains, so
 * the head stays where the loss happened). */
static int ring_flush_loss(sio_ring *r)
{
    if (!sio_load_acquire(&r->pending_lost))
        return 1;
    size_t mh = sio_load_relaxed(&r->mark_head);
    size_t mt = sio_load_acquire(&r->mark_tail);
    if (mh - mt >= SIO_RING_MARKS)
        return 0;
    size_t lost = sio_exchange(&r->pending_lost, 0);
    if (!lost)
        return 1; /* the consumer claimed it meanwhile */
    r->mark_pos[mh & (SIO_RING_MARKS - 1)] = sio_load_relaxed(&r->head);
    r->mark_lost[mh & (SIO_RING_MARKS - 1)] = lost;
    sio_store_release(&r->mark_head, mh + 1);
    return 1;
}

static void ring_count_loss(sio_ring *r, size_t n)
{
    if (!n)
        return;
    if (sio_fetch_add(&r->pending_lost, n) == 0)
        sio_fetch_add(&r->overflow_events, 1);
    sio_fetch_add(&r->overflow_bytes, n);
}

void sio_ring_note_loss(sio_ring *r, size_t n)
{
    ring_count_loss(r, n);
    ring_flush_loss(r);
}

uint8_t *sio_ring_write_block(sio_ring *r, size_t *len)
{
    if (!ring_flush_loss(r)) {
        *len = 0;
        return r->buf;
    }
    size_t head = sio_load_relaxed(&r->head);
    size_t tail = sio_load_acquire(&r->tail);
    size_t free_bytes = r->mask + 1 - (head - tail);
    size_t off = head & r->mask;
    size_t to_end = r->mask + 1 - off;
    *len = free_bytes < to_end ? free_bytes : to_end;
    return r->buf + off;
}

void sio_ring_write_commit(sio_ring *r, size_t n)
{
    sio_store_release(&r->head, sio_load_relaxed(&r->head) + n);
}

size_t sio_ring_write(sio_ring *r, const uint8_t *data, size_t len)
{
    size_t stored = 0;
    while (stored < len) {
        size_t block;
        uint8_t *dst = sio_ring_write_block(r, &block);
        if (!block)
            break;
        size_t n = len - stored < block ? len - stored : block;
        memcpy(dst, data + stored, n);
        sio_ring_write_commit(r, n);
        stored += n;
    }
    if (stored < len) {
        ring_count_loss(r, len - stored);
        ring_flush_loss(r);
    }
    return stored;
}

const uint8_t *sio_ring_read_block(sio_ring *r, size_t *len, int *at_mark)
{
    size_t tail = sio_load_relaxed(&r->tail);
    size_t head = sio_load_acquire(&r->head);
    size_t avail = head - tail;
    size_t off = tail & r->mask;
    size_t to_end = r->mask + 1 - off;
    size_t n = avail < to_end ? avail : to_end;
    int mark = 0;
    size_t mt = sio_load_relaxed(&r->mark_tail);
    size_t mh = sio_load_acquire(&r->mark_head);
    if (mt != mh) {
        size_t until = r->mark_pos[mt & (SIO_RING_MARKS - 1)] - tail;
        if (until <= n) {
            n = until;
            mark = 1;
        }
    }
    *len = n;
    if (at_mark)
        *at_mark = mark;
    return r->buf + off;
}

void sio_ring_read_commit(sio_ring *r, size_t n)
{
    sio_store_release(&r->tail, sio_load_relaxed(&r->tail) + n);
}

uint64_t sio_ring_pop_mark(sio_ring *r)
{
    size_t mt = sio_load_relaxed(&r->mark_tail);
    size_t mh = sio_load_acquire(&r->mark_head);
    if (mt == mh || r->mark_pos[mt & (SIO_RING_MARKS - 1)] != sio_load_relaxed(&r->tail))
        return 0;
    uint64_t lost = r->mark_lost[mt & (SIO_RING_MARKS - 1)];
    sio_store_release(&r->mark_tail, mt + 1);
    return lost;
}

uint64_t sio_ring_claim_loss(sio_ring *r)
{
    /* Unqueued loss is always at the head: the producer queues it before it
     * writes anything else. So once the consumer has read up to the head with
     * no mark left, the loss sits exactly at the read position. */
    if (sio_load_acquire(&r->mark_head) != sio_load_relaxed(&r->mark_tail))
        return 0;
    if (sio_load_acquire(&r->head) != sio_load_relaxed(&r->tail))
        return 0;
    return sio_exchange(&r->pending_lost, 0);
}

size_t sio_ring_read(sio_ring *r, uint8_t *out, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t block;
        int at_mark;
        const uint8_t *src = sio_ring_read_block(r, &block, &at_mark);
        if (!block)
            break;
        size_t n = len - got < block ? len - got : block;
        memcpy(out + got, src, n);
        sio_ring_read_commit(r, n);
        got += n;
        if (at_mark && n == block)
            break;
    }
    return got;
}

uint64_t sio_ring_overflow_bytes(const sio_ring *r)
{
    return sio_load_acquire((sio_atomic_size *)&r->overflow_bytes);
}

uint64_t sio_ring_overflow_events(const sio_ring *r)
{
    return sio_load_acquire((sio_atomic_size *)&r->overflow_events);
}
