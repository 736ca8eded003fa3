/* sio_framer.c - sync-byte framing shared by sio_fmt_cyton.c and
 * sio_fmt_spec.c (rules in sio_framer.h): setup and bookkeeping; the
 * scanning is in sio_framer_impl.h. */
#include "sio_parser.h"

#include <string.h>

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

