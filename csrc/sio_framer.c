/* sio_framer.c - sync-byte framing shared by sio_fmt_cyton.c and
 * sio_fmt_spec.c (rules in sio_framer.h). */
#include "sio_parser.h"

#include <string.h>

/* A verdict of lined_up() only: valid, but (with confirm) the next frame's
 * sync bytes do not follow it. */
enum { NOT_FOLLOWED = 3 };

int sio_framer_init(sio_framer *f, const uint8_t *sync, size_t sync_len, size_t max_frame, int confirm)
{
    if (sync_len < 1 || sync_len > SIO_FRAMER_MAX_SYNC || max_frame < sync_len || max_frame > SIO_FRAMER_MAX_FRAME)
        return -1;
    memcpy(f->sync, sync, sync_len);
    f->sync_len = sync_len;
    f->max_frame = max_frame;
    f->confirm = confirm;
    sio_framer_reset(f);
    return 0;
}

void sio_framer_reset(sio_framer *f)
{
    f->carry_len = 0;
    f->final = 0;
    f->locked = 0;
    f->bad = 0;
    f->pending = 0;
}

size_t sio_framer_pending_bytes(const sio_framer *f)
{
    return f->carry_len + (f->pending ? f->pending_size : 0);
}

void sio_framer_discontinuity(sio_parser *p, sio_framer *f)
{
    p->stats.bytes_resync += f->carry_len;
    f->carry_len = 0;
    f->locked = 0;
    f->bad = 0;
}

/* A frame at b? A verdict; on GOOD its size is in *size. */
static inline int frame_at(const sio_parser *p, const sio_framer *f, const sio_framer_ops *ops, const uint8_t *b,
                           size_t avail, size_t *size)
{
    size_t sl = f->sync_len;
    if (memcmp(b, f->sync, avail < sl ? avail : sl) != 0)
        return SIO_FRAMER_BAD;
    int v = ops->check(p, b, avail, size);
    if (v == SIO_FRAMER_GOOD && (*size < f->sync_len || *size > f->max_frame))
        return SIO_FRAMER_BAD; /* cannot happen (sio_framer_ops.check); never overflow frame[] */
    return v;
}

/* Does a frame at b line up? A verdict, or NOT_FOLLOWED. When flushing
 * (f->final) a frame at the very end lines up. */
static int lined_up(const sio_parser *p, const sio_framer *f, const sio_framer_ops *ops, const uint8_t *b,
                    size_t avail, size_t *size)
{
    int v = frame_at(p, f, ops, b, avail, size);
    if (v != SIO_FRAMER_GOOD || !f->confirm)
        return v;
    size_t rest = avail - *size;
    if (memcmp(b + *size, f->sync, rest < f->sync_len ? rest : f->sync_len) != 0)
        return NOT_FOLLOWED;
    if (rest < f->sync_len)
        return f->final ? SIO_FRAMER_GOOD : SIO_FRAMER_NEED_MORE;
    return SIO_FRAMER_GOOD;
}

/* Is there a trusted frame at b? The rules in sio_framer.h. */
static int candidate(const sio_parser *p, const sio_framer *f, const sio_framer_ops *ops, const uint8_t *b,
                     size_t avail, size_t *size)
{
    int steady = f->locked && !f->bad;
    int v = lined_up(p, f, ops, b, avail, size);
    if (v == NOT_FOLLOWED) {
        if (!steady)
            return SIO_FRAMER_BAD;
        for (size_t j = 1; j < *size; j++) {
            if (b[j] != f->sync[0])
                continue;
            size_t alt_size;
            int alt = lined_up(p, f, ops, b + j, avail - j, &alt_size);
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
    int v2 = frame_at(p, f, ops, b + *size, rest, &next_size);
    if (v2 == SIO_FRAMER_NEED_MORE)
        return f->final ? SIO_FRAMER_GOOD : SIO_FRAMER_NEED_MORE;
    return v2 == SIO_FRAMER_GOOD ? SIO_FRAMER_GOOD : SIO_FRAMER_BAD;
}

/* Books n bytes that are not part of any frame. */
static void skip_bytes(sio_parser *p, sio_framer *f, size_t n, int crc)
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
static size_t rewind_skip(const sio_framer *f, const uint8_t *b, size_t avail)
{
    const uint8_t *next = avail > 1 ? memchr(b + 1, f->sync[0], avail - 1) : NULL;
    return next ? (size_t)(next - b) : avail;
}

static void booked(sio_parser *p, sio_framer *f, size_t size)
{
    p->stats.bytes_ok += size;
    f->bad = 0;
}

/* Accepts a trusted frame; on NEED_BLOCK keeps a copy to finish later. */
static int take_frame(sio_parser *p, sio_framer *f, const sio_framer_ops *ops, const uint8_t *b, size_t size)
{
    f->locked = 1;
    if (ops->start)
        ops->start(p, b, size);
    int part;
    if (ops->emit(p, b, size, 0, &part) == SIO_FEED_DONE) {
        booked(p, f, size);
        return SIO_FEED_DONE;
    }
    memcpy(f->frame, b, size);
    f->pending = 1;
    f->pending_part = part;
    f->pending_size = size;
    return SIO_FEED_NEED_BLOCK;
}

/* Frames in buf[0..n): returns the bytes used. Stops at a candidate that
 * needs more bytes (*undecided), on NEED_BLOCK (*status), and with
 * one_candidate at the second candidate (see sio_framer_ops.carry_one_candidate). */
static size_t scan(sio_parser *p, sio_framer *f, const sio_framer_ops *ops, const uint8_t *buf, size_t n,
                   int one_candidate, int *status, int *undecided)
{
    uint8_t sync0 = f->sync[0];
    size_t j = 0;
    int decided = 0;
    *status = SIO_FEED_DONE;
    *undecided = 0;
    while (j < n) {
        const uint8_t *b = buf + j;
        if (*b != sync0) {
            const uint8_t *start = memchr(b, sync0, n - j);
            size_t k = start ? (size_t)(start - b) : n - j;
            skip_bytes(p, f, k, 0);
            j += k;
            continue;
        }
        if (*status != SIO_FEED_DONE || (one_candidate && decided))
            break;
        size_t size = 0;
        int v = candidate(p, f, ops, b, n - j, &size);
        if (v == SIO_FRAMER_NEED_MORE) {
            *undecided = 1; /* an incomplete frame stays pending, even when flushing */
            break;
        }
        decided = 1;
        if (v == SIO_FRAMER_GOOD) {
            j += size;
            *status = take_frame(p, f, ops, b, size);
            if (*status != SIO_FEED_DONE && !one_candidate)
                break;
            continue;
        }
        size_t k = rewind_skip(f, b, n - j);
        skip_bytes(p, f, k, v == SIO_FRAMER_BAD_CHECKSUM);
        j += k;
    }
    return j;
}

int sio_framer_feed(sio_parser *p, sio_framer *f, const sio_framer_ops *ops, const uint8_t *data, size_t len,
                    size_t *consumed)
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
        booked(p, f, f->pending_size);
        f->pending = 0;
    }
    /* A candidate that straddles feed calls is completed in carry[]. */
    while (f->carry_len) {
        size_t take = cap - f->carry_len;
        if (take > len - i)
            take = len - i;
        memcpy(f->carry + f->carry_len, data + i, take);
        f->carry_len += take;
        i += take;
        size_t used = scan(p, f, ops, f->carry, f->carry_len, ops->carry_one_candidate, &status, &undecided);
        if (!used && undecided && f->carry_len == cap) {
            used = 1; /* cannot happen: a full carry always decides; never stall */
            skip_bytes(p, f, 1, 0);
        }
        f->carry_len -= used;
        memmove(f->carry, f->carry + used, f->carry_len);
        if (status != SIO_FEED_DONE)
            goto done;
        if (undecided && i == len)
            break; /* all the input is in the carry */
    }
    if (i < len) {
        size_t used = scan(p, f, ops, data + i, len - i, 0, &status, &undecided);
        i += used;
        if (status == SIO_FEED_DONE && i < len) {
            /* a candidate waits for more bytes */
            size_t keep = len - i;
            if (keep > cap) {
                /* cannot happen (a candidate decides within a full carry); never overflow */
                skip_bytes(p, f, keep - cap, 0);
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

int sio_framer_flush(sio_parser *p, sio_framer *f, const sio_framer_ops *ops)
{
    static const uint8_t none[1];
    size_t consumed;
    f->final = 1;
    int status = sio_framer_feed(p, f, ops, none, 0, &consumed);
    f->final = 0;
    return status;
}
