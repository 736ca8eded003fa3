/* sio_framer_impl.h - the scanning of sio_framer.h: sio_framer_feed() and
 * sio_framer_flush(), included by the formats that use them (sio_fmt_cyton.c,
 * sio_fmt_spec.c) so that the compiler specialises them for each format's
 * hooks: the hot path has no indirect calls. */
#ifndef SIO_FRAMER_IMPL_H
#define SIO_FRAMER_IMPL_H

#include <string.h>

#include "sio_parser.h"

/* For the formats' hooks: compiled into the scanning loops, so the hot path
 * has no calls (measured: 5-25% on small frames). */
#if defined(__GNUC__)
#define SIO_FRAMER_HOOK static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define SIO_FRAMER_HOOK static __forceinline
#else
#define SIO_FRAMER_HOOK static inline
#endif

/* A verdict of sio_framer_lined_up() only: valid, but (with confirm) the
 * next frame's sync bytes do not follow it. */
enum { SIO_FRAMER_NOT_FOLLOWED = 3 };

/* Do the sync bytes start at b, as far as avail goes, from byte `from` on?
 * (A loop: the sync is short, a call to memcmp costs more.) */
static inline int sio_framer_sync_match(const sio_framer *f, const uint8_t *b, size_t avail, size_t from)
{
    size_t n = avail < f->sync_len ? avail : f->sync_len;
    for (size_t k = from; k < n; k++)
        if (b[k] != f->sync[k])
            return 0;
    return 1;
}

/* A frame at b (avail >= 1, b[0] is the first sync byte)? A verdict; on
 * GOOD its size is in *size. */
static inline int sio_framer_frame_at(const sio_parser *p, const sio_framer *f, const sio_framer_ops *ops,
                                      const uint8_t *b, size_t avail, size_t *size)
{
    if (!sio_framer_sync_match(f, b, avail, 1))
        return SIO_FRAMER_BAD;
    int v = ops->check(p, b, avail, size);
    if (v == SIO_FRAMER_GOOD && (*size < f->sync_len || *size > f->max_frame))
        return SIO_FRAMER_BAD; /* cannot happen (sio_framer_ops.check); never overflow frame[] */
    return v;
}

/* Does a frame at b line up? A verdict, or SIO_FRAMER_NOT_FOLLOWED. When
 * flushing (f->final) a frame at the very end lines up; with `early` (the
 * framer is locked) so does one whose counter continues the last frame's. */
static inline int sio_framer_lined_up(const sio_parser *p, const sio_framer *f, const sio_framer_ops *ops,
                                      const uint8_t *b, size_t avail, size_t *size, int early)
{
    int v = sio_framer_frame_at(p, f, ops, b, avail, size);
    if (v != SIO_FRAMER_GOOD || !f->confirm)
        return v;
    size_t rest = avail - *size;
    if (!sio_framer_sync_match(f, b + *size, rest, 0))
        return SIO_FRAMER_NOT_FOLLOWED;
    if (rest < f->sync_len) {
        if (f->final || (early && ops->continues && ops->continues(p, b, *size)))
            return SIO_FRAMER_GOOD;
        return SIO_FRAMER_NEED_MORE;
    }
    return SIO_FRAMER_GOOD;
}

/* Is there a trusted frame at b? The rules in sio_framer.h. */
static inline int sio_framer_candidate(const sio_parser *p, const sio_framer *f, const sio_framer_ops *ops,
                                       const uint8_t *b, size_t avail, size_t *size)
{
    int steady = f->locked && !f->bad;
    int v = sio_framer_lined_up(p, f, ops, b, avail, size, steady);
    if (v == SIO_FRAMER_NOT_FOLLOWED) {
        if (!steady)
            return SIO_FRAMER_BAD;
        for (size_t j = 1; j < *size; j++) {
            if (b[j] != f->sync[0])
                continue;
            size_t alt_size;
            int alt = sio_framer_lined_up(p, f, ops, b + j, avail - j, &alt_size, 0);
            if (alt == SIO_FRAMER_NEED_MORE)
                return SIO_FRAMER_NEED_MORE;
            if (alt == SIO_FRAMER_GOOD)
                return SIO_FRAMER_BAD;
        }
        return SIO_FRAMER_GOOD;
    }
    if (v != SIO_FRAMER_GOOD || !f->confirm || steady)
        return v;
    size_t rest = avail - *size;
    if (!rest)
        return SIO_FRAMER_GOOD; /* flushing */
    size_t next_size;
    int v2 = sio_framer_frame_at(p, f, ops, b + *size, rest, &next_size);
    if (v2 == SIO_FRAMER_NEED_MORE)
        return f->final ? SIO_FRAMER_GOOD : SIO_FRAMER_NEED_MORE;
    return v2 == SIO_FRAMER_GOOD ? SIO_FRAMER_GOOD : SIO_FRAMER_BAD;
}

/* Books n bytes that are not part of any frame. */
static inline void sio_framer_skip_bytes(sio_parser *p, sio_framer *f, size_t n, int crc)
{
    if (!n)
        return;
    if (!f->locked) {
        p->stats.bytes_resync += n;
        return;
    }
    if (!f->bad) {
        f->bad = 1;
        if (crc)
            p->stats.crc_errors++;
        else
            p->stats.malformed++;
    }
    if (crc)
        p->stats.bytes_crc += n;
    else
        p->stats.bytes_malformed += n;
}

/* Bytes of a rejected candidate at b to skip: up to the next sync start. */
static inline size_t sio_framer_rewind_skip(const sio_framer *f, const uint8_t *b, size_t avail)
{
    const uint8_t *next = avail > 1 ? memchr(b + 1, f->sync[0], avail - 1) : NULL;
    return next ? (size_t)(next - b) : avail;
}

static inline void sio_framer_booked(sio_parser *p, size_t size)
{
    p->stats.bytes_ok += size;
}

/* Accepts a trusted frame; on NEED_BLOCK keeps a copy to finish later. */
static inline int sio_framer_take_frame(sio_parser *p, sio_framer *f, const sio_framer_ops *ops, const uint8_t *b,
                                        size_t size)
{
    /* the run of bad bytes ends here, not when a frame kept for later is
     * booked: with carry_one_candidate the scan goes on past it, and junk
     * after it must leave the framer unsteady (sio_framer_candidate) */
    f->locked = 1;
    f->bad = 0;
    if (ops->start)
        ops->start(p, b, size);
    int part;
    if (ops->emit(p, b, size, 0, &part) == SIO_FEED_DONE) {
        sio_framer_booked(p, size);
        return SIO_FEED_DONE;
    }
    memcpy(f->frame, b, size);
    f->pending = 1;
    f->pending_part = part;
    f->pending_size = size;
    return SIO_FEED_NEED_BLOCK;
}

/* Frames in buf[0..n): returns the bytes used. Stops at a candidate that
 * needs more bytes (*undecided_out), on NEED_BLOCK (*status_out), and with
 * one_candidate at the second candidate (sio_framer_ops.carry_one_candidate). */
static inline size_t sio_framer_scan(sio_parser *p, sio_framer *f, const sio_framer_ops *ops, const uint8_t *buf,
                                     size_t n, int one_candidate, int *status_out, int *undecided_out)
{
    uint8_t sync0 = f->sync[0];
    size_t j = 0;
    int status = SIO_FEED_DONE, undecided = 0, decided = 0;
    while (j < n) {
        const uint8_t *b = buf + j;
        if (*b != sync0) {
            const uint8_t *start = memchr(b, sync0, n - j);
            size_t k = start ? (size_t)(start - b) : n - j;
            sio_framer_skip_bytes(p, f, k, 0);
            j += k;
            continue;
        }
        if (status != SIO_FEED_DONE || (one_candidate && decided))
            break;
        size_t size = 0;
        int v = sio_framer_candidate(p, f, ops, b, n - j, &size);
        if (v == SIO_FRAMER_NEED_MORE) {
            undecided = 1; /* an incomplete frame stays pending, even when flushing */
            break;
        }
        decided = 1;
        if (v == SIO_FRAMER_GOOD) {
            j += size;
            status = sio_framer_take_frame(p, f, ops, b, size);
            if (status != SIO_FEED_DONE && !one_candidate)
                break;
            continue;
        }
        size_t k = sio_framer_rewind_skip(f, b, n - j);
        sio_framer_skip_bytes(p, f, k, v == SIO_FRAMER_BAD_CHECKSUM);
        j += k;
    }
    *status_out = status;
    *undecided_out = undecided;
    return j;
}

static inline int sio_framer_feed(sio_parser *p, sio_framer *f, const sio_framer_ops *ops, const uint8_t *data,
                                  size_t len, size_t *consumed)
{
    size_t cap = ops->carry_size < sizeof f->carry ? ops->carry_size : sizeof f->carry;
    size_t i = 0;
    int status = SIO_FEED_DONE;
    int undecided;

    if (f->pending) {
        int part;
        if (ops->emit(p, f->frame, f->pending_size, f->pending_part, &part) != SIO_FEED_DONE) {
            f->pending_part = part;
            *consumed = 0;
            return SIO_FEED_NEED_BLOCK;
        }
        sio_framer_booked(p, f->pending_size);
        f->pending = 0;
    }
    /* A candidate that straddles feed calls is completed in carry[], which
     * then runs ahead: each round tops it up to cap bytes from the input and
     * scans it. Once what it holds is all from data[] (s on), it is read in
     * place rather than copied: the same bytes, so the same result. */
    int in_data = 0;
    size_t s = 0;
    while (f->carry_len || in_data) {
        const uint8_t *b;
        size_t avail, take;
        if (in_data) {
            b = data + s;
            avail = cap < len - s ? cap : len - s;
            take = avail;
            i = s + avail; /* i: after the input the carry holds */
        } else {
            take = cap - f->carry_len;
            if (take > len - i)
                take = len - i;
            memcpy(f->carry + f->carry_len, data + i, take);
            b = f->carry;
            avail = f->carry_len + take;
            i += take;
        }
        size_t used = sio_framer_scan(p, f, ops, b, avail, ops->carry_one_candidate, &status, &undecided);
        if (!used && undecided && avail == cap) {
            used = 1; /* cannot happen: a full carry always decides; never stall */
            sio_framer_skip_bytes(p, f, 1, 0);
        }
        size_t rest = avail - used;
        if (status != SIO_FEED_DONE || (undecided && i == len) || !rest) {
            memmove(f->carry, b + used, rest);
            f->carry_len = rest;
            in_data = 0;
            if (status != SIO_FEED_DONE)
                goto done;
            break; /* all the input is in the carry, or the carry is empty */
        }
        if (rest <= take) {
            in_data = 1;
            s = i - rest;
            f->carry_len = 0;
        } else {
            memmove(f->carry, b + used, rest); /* bytes of earlier calls remain */
            f->carry_len = rest;
        }
    }
    if (i < len) {
        size_t used = sio_framer_scan(p, f, ops, data + i, len - i, 0, &status, &undecided);
        i += used;
        if (status == SIO_FEED_DONE && i < len) {
            /* a candidate waits for more bytes */
            size_t keep = len - i;
            if (keep > cap) {
                /* cannot happen (a candidate decides within a full carry); never overflow */
                sio_framer_skip_bytes(p, f, keep - cap, 0);
                i += keep - cap;
                keep = cap;
            }
            memcpy(f->carry, data + i, keep);
            f->carry_len = keep;
            i = len;
        }
    }
done:
    p->stats.bytes_in += i;
    *consumed = i;
    return status;
}

static inline int sio_framer_flush(sio_parser *p, sio_framer *f, const sio_framer_ops *ops)
{
    static const uint8_t none[1];
    size_t consumed;
    f->final = 1;
    int status = sio_framer_feed(p, f, ops, none, 0, &consumed);
    f->final = 0;
    return status;
}

#endif
