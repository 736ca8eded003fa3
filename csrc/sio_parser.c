/* sio_parser.c - format-independent bookkeeping of the frame engine. */
#include "sio_parser.h"

#include <string.h>

size_t sio_parser_struct_size(void)
{
    return sizeof(sio_parser);
}

static void slot_clear(sio_slot *s)
{
    memset(s, 0, sizeof *s);
    s->stream_id = -1;
}

int sio_parser_init(sio_parser *p, int format)
{
    memset(p, 0, sizeof *p);
    p->format = format;
    p->need_slot = -1;
    for (int i = 0; i < SIO_MAX_STREAMS; i++)
        slot_clear(&p->slots[i]);
    switch (format) {
    case SIO_FMT_SIO1:
        sio_fmt_sio1_reset(&p->fmt.sio1);
        return 0;
    case SIO_FMT_CYTON:
        sio_fmt_cyton_reset(&p->fmt.cyton);
        return 0;
    case SIO_FMT_ASCII:
        sio_fmt_ascii_reset(&p->fmt.ascii);
        return 0;
    case SIO_FMT_SPEC:
        sio_fmt_spec_reset(&p->fmt.spec); /* frames only after sio_fmt_spec_configure */
        return 0;
    default:
        return -1;
    }
}

sio_stats *sio_parser_stats(sio_parser *p)
{
    return &p->stats;
}

static int format_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    switch (p->format) {
    case SIO_FMT_SIO1:
        return sio_fmt_sio1_feed(p, data, len, consumed);
    case SIO_FMT_CYTON:
        return sio_fmt_cyton_feed(p, data, len, consumed);
    case SIO_FMT_ASCII:
        return sio_fmt_ascii_feed(p, data, len, consumed);
    case SIO_FMT_SPEC:
        return sio_fmt_spec_feed(p, data, len, consumed);
    default:
        *consumed = len;
        return SIO_FEED_DONE;
    }
}

int sio_parser_flush(sio_parser *p)
{
    p->need_slot = -1;
    switch (p->format) {
    case SIO_FMT_CYTON:
        return sio_fmt_cyton_flush(p);
    case SIO_FMT_ASCII:
        return sio_fmt_ascii_flush(p);
    case SIO_FMT_SPEC:
        return sio_fmt_spec_flush(p);
    default:
        return SIO_FEED_DONE;
    }
}

size_t sio_parser_pending_bytes(const sio_parser *p)
{
    switch (p->format) {
    case SIO_FMT_SIO1:
        return sio_fmt_sio1_pending_bytes(&p->fmt.sio1);
    case SIO_FMT_CYTON:
        return sio_fmt_cyton_pending_bytes(&p->fmt.cyton);
    case SIO_FMT_ASCII:
        return sio_fmt_ascii_pending_bytes(&p->fmt.ascii);
    case SIO_FMT_SPEC:
        return sio_fmt_spec_pending_bytes(&p->fmt.spec);
    default:
        return 0;
    }
}

int sio_parser_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    p->need_slot = -1;
    return format_feed(p, data, len, consumed);
}

void sio_parser_discontinuity(sio_parser *p, uint64_t lost_bytes, uint32_t kind)
{
    switch (p->format) {
    case SIO_FMT_SIO1: {
        sio_fmt_sio1 *s = &p->fmt.sio1;
        /* A partial frame can never be completed now. */
        p->stats.bytes_resync += s->enc_len;
        s->enc_len = 0;
        s->oversized = 0;
        s->fresh = 1;
        break;
    }
    case SIO_FMT_CYTON:
        sio_fmt_cyton_discontinuity(p);
        break;
    case SIO_FMT_ASCII:
        sio_fmt_ascii_discontinuity(p);
        break;
    case SIO_FMT_SPEC:
        sio_fmt_spec_discontinuity(p);
        break;
    default:
        break;
    }
    for (int i = 0; i < SIO_MAX_STREAMS; i++) {
        sio_slot *s = &p->slots[i];
        if (s->stream_id < 0)
            continue;
        s->pending_event = kind;
        s->pending_lost_bytes += lost_bytes;
    }
}

int sio_parser_feed_ring(sio_parser *p, sio_ring *r, size_t max_bytes, size_t *consumed)
{
    size_t total = 0;
    int status = SIO_FEED_DONE;
    p->need_slot = -1;
    while (total < max_bytes) {
        size_t block;
        int at_mark;
        const uint8_t *src = sio_ring_read_block(r, &block, &at_mark);
        if (block > max_bytes - total) {
            block = max_bytes - total;
            at_mark = 0;
        }
        size_t used = 0;
        status = format_feed(p, src, block, &used);
        sio_ring_read_commit(r, used);
        total += used;
        if (status != SIO_FEED_DONE)
            break;
        if (at_mark) {
            uint64_t lost = sio_ring_pop_mark(r);
            p->stats.ring_overflow_bytes += lost;
            p->stats.ring_overflows++;
            sio_parser_discontinuity(p, lost, SIO_EV_OVERFLOW);
            continue;
        }
        if (!block)
            break;
    }
    *consumed = total;
    return status;
}

int sio_parser_need_slot(const sio_parser *p)
{
    return p->need_slot;
}

int sio_parser_slot_stream(const sio_parser *p, int slot)
{
    if (slot < 0 || slot >= SIO_MAX_STREAMS)
        return -1;
    return p->slots[slot].stream_id;
}

sio_block *sio_parser_block(sio_parser *p, int slot)
{
    if (slot < 0 || slot >= SIO_MAX_STREAMS)
        return NULL;
    return &p->slots[slot].block;
}

uint64_t sio_parser_slot_rows_before(const sio_parser *p, int slot)
{
    if (slot < 0 || slot >= SIO_MAX_STREAMS)
        return 0;
    return p->slots[slot].rows_before;
}

size_t sio_parser_need_rows(const sio_parser *p)
{
    return p->need_rows;
}

uint32_t sio_parser_need_channels(const sio_parser *p)
{
    return p->need_ch;
}

void sio_parser_block_reset(sio_parser *p, int slot)
{
    if (slot < 0 || slot >= SIO_MAX_STREAMS)
        return;
    sio_slot *s = &p->slots[slot];
    s->rows_before += s->block.n_rows;
    s->block.n_rows = 0;
    s->block.n_frames = 0;
    s->block.n_events = 0;
    s->block.n_ch = 0;
    s->block.enc = 0;
}

void sio_parser_set_msg_buffer(sio_parser *p, uint8_t *buf, size_t cap)
{
    p->msg_buf = buf;
    p->msg_cap = cap;
    p->msg_len = 0;
}

size_t sio_parser_msg_len(const sio_parser *p)
{
    return p->msg_len;
}

void sio_parser_msg_reset(sio_parser *p)
{
    p->msg_len = 0;
}

int sio_emit_message(sio_parser *p, uint8_t type, const uint8_t *payload, size_t len)
{
    size_t need = 3 + len;
    if (len > 0xFFFF || need > p->msg_cap) {
        p->stats.messages_dropped++;
        return 0;
    }
    if (need > p->msg_cap - p->msg_len)
        return -1;
    uint8_t *dst = p->msg_buf + p->msg_len;
    dst[0] = type;
    dst[1] = (uint8_t)(len & 0xFF);
    dst[2] = (uint8_t)(len >> 8);
    memcpy(dst + 3, payload, len);
    p->msg_len += need;
    p->stats.messages_ok++;
    return 0;
}

static int32_t *need_block(sio_parser *p, int slot, const sio_frame_meta *m)
{
    p->need_slot = slot;
    p->need_rows = m->n_samp;
    p->need_ch = m->n_ch;
    return NULL;
}

int32_t *sio_emit_frame(sio_parser *p, const sio_frame_meta *m)
{
    if (m->stream_id > 255 || m->n_ch == 0 || m->n_ch > SIO_MAX_CHANNELS_ANY)
        return NULL;
    int slot = p->slot_of[m->stream_id] - 1;
    if (slot < 0) {
        for (int i = 0; i < SIO_MAX_STREAMS; i++) {
            if (p->slots[i].stream_id < 0) {
                slot = i;
                break;
            }
        }
        if (slot < 0)
            return NULL;
        p->slots[slot].stream_id = (int32_t)m->stream_id;
        p->slot_of[m->stream_id] = (uint8_t)(slot + 1);
    }
    sio_slot *s = &p->slots[slot];
    sio_block *b = &s->block;

    /* Decide the events before touching anything, so that a frame which does
     * not fit leaves no trace and can be retried. */
    uint32_t kind = 0;
    uint64_t lost = 0;
    if (m->seq_modulus && s->have_seq && m->seq != s->last_seq + 1 &&
        !(m->seq == 0 && s->last_seq + 1 == m->seq_modulus)) {
        /* not the next frame (the common case skips the division) */
        uint64_t d = ((uint64_t)m->seq + m->seq_modulus - s->last_seq - 1) % m->seq_modulus;
        if (d) {
            if (d < m->seq_modulus / 2) {
                kind = SIO_EV_GAP;
                lost = d;
            } else {
                kind = SIO_EV_RESTART;
            }
        }
    }
    size_t events = (kind ? 1 : 0) + (s->pending_event ? 1 : 0);

    if (!b->samples || !b->frame_seq || (b->n_ch && (b->n_ch != m->n_ch || b->enc != m->enc)))
        return need_block(p, slot, m);
    if (b->n_frames >= b->frames_cap || b->n_events + events > b->events_cap ||
        (b->n_rows + m->n_samp) * m->n_ch > b->samples_cap)
        return need_block(p, slot, m);

    b->n_ch = m->n_ch;
    b->enc = m->enc;
    uint32_t row = (uint32_t)b->n_rows;
    if (s->pending_event) {
        sio_event *e = &b->events[b->n_events++];
        memset(e, 0, sizeof *e);
        e->row = row;
        e->kind = s->pending_event;
        e->lost_bytes = s->pending_lost_bytes;
        e->seq_before = s->last_seq;
        e->seq_after = m->seq;
        s->pending_event = 0;
        s->pending_lost_bytes = 0;
    }
    if (kind) {
        sio_event *e = &b->events[b->n_events++];
        memset(e, 0, sizeof *e);
        e->row = row;
        e->kind = kind;
        e->seq_before = s->last_seq;
        e->seq_after = m->seq;
        e->lost_frames = lost;
        e->lost_samples = lost * m->n_samp;
        if (kind == SIO_EV_GAP) {
            p->stats.lost_frames += lost;
            p->stats.lost_samples += lost * m->n_samp;
        } else {
            p->stats.restarts++;
        }
    }
    s->have_seq = 1;
    s->last_seq = m->seq;

    size_t f = b->n_frames++;
    b->frame_seq[f] = m->seq;
    b->frame_time[f] = m->time;
    b->frame_leadoff[f] = m->leadoff;
    b->frame_row[f] = row;
    int32_t *dst = b->samples + (size_t)row * m->n_ch;
    b->n_rows += m->n_samp;
    p->stats.frames_ok++;
    p->stats.samples_ok += m->n_samp;
    return dst;
}
