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

void sio_parser_set_counter_period(sio_parser *p, uint64_t period_ns)
{
    p->counter_period_ns = period_ns;
}

void sio_parser_read_time(sio_parser *p, int64_t t_ns)
{
    if (t_ns <= 0 || t_ns == p->read_ns)
        return; /* no time (a damaged record's), or more bytes of the same read */
    p->read_before_ns = p->read_ns;
    p->read_ns = t_ns;
}

/* Host time that may have passed since the stream's last frame, as counter
 * steps could tell: its bytes came after the read before its own, this
 * frame's by the current read. 0 when either time is unknown. */
static int64_t host_gap_ns(const sio_parser *p, const sio_slot *s)
{
    if (!p->counter_period_ns || !p->read_ns || !s->last_after_ns || p->read_ns <= s->last_after_ns)
        return 0;
    return p->read_ns - s->last_after_ns;
}

/* True when host_ns could hold (lost + 1) counter steps: that many frames
 * may have gone by unseen. The margin: a transport that delivers the frame
 * before the gap late and the one after it early, and reads apart. */
static int host_gap_may_hold(const sio_parser *p, int64_t host_ns, uint64_t lost)
{
    if (host_ns <= 0)
        return 0;
    double span = (double)(lost + 1) * (double)p->counter_period_ns;
    double margin = span / 10 > 100e6 ? span / 10 : 100e6;
    return (double)host_ns + margin >= span;
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
        if (!block) {
            uint64_t lost = sio_ring_claim_loss(r);
            if (lost) {
                p->stats.ring_overflow_bytes += lost;
                p->stats.ring_overflows++;
                sio_parser_discontinuity(p, lost, SIO_EV_OVERFLOW);
            }
            break;
        }
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

int sio_parser_block_advance(sio_parser *p, int slot)
{
    if (slot < 0 || slot >= SIO_MAX_STREAMS)
        return -1;
    sio_block *b = &p->slots[slot].block;
    /* The counts are the caller's to read and write (sio_block is public):
     * check them against the capacities before moving any pointer, so that
     * a block that does not fit its buffers never moves them past their end
     * (nor wraps a capacity round to a huge one). Pointers move only by a
     * count above 0: a block without buffers stays without them. */
    if (b->n_ch && b->n_rows > b->samples_cap / b->n_ch)
        return -1;
    size_t values = b->n_rows * b->n_ch;
    if (values > b->samples_cap || b->n_frames > b->frames_cap || b->n_events > b->events_cap)
        return -1;
    if ((values && !b->samples) ||
        (b->n_frames && (!b->frame_seq || !b->frame_time || !b->frame_leadoff || !b->frame_row)) ||
        (b->n_events && !b->events))
        return -1;
    if (values) {
        b->samples += values;
        b->samples_cap -= values;
    }
    if (b->n_frames) {
        b->frame_seq += b->n_frames;
        b->frame_time += b->n_frames;
        b->frame_leadoff += b->n_frames;
        b->frame_row += b->n_frames;
        b->frames_cap -= b->n_frames;
    }
    if (b->n_events) {
        b->events += b->n_events;
        b->events_cap -= b->n_events;
    }
    sio_parser_block_reset(p, slot);
    return 0;
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

const size_t *sio_parser_msg_len_ref(const sio_parser *p)
{
    return &p->msg_len;
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

/* ---- counting lost frames (the rules in sio_parser.h) ---- */

enum {
    CLOCK_MIN_PAIRS = 4,         /* consecutive pairs before a clock is trusted */
    CLOCK_MAX_PAIRS = 1u << 24   /* the run's mean stops moving here (no overflow) */
};

/* One consecutive frame pair, dt ticks apart: extends the run, or starts a
 * new one if the step is off by more than 1/16 and a tick (rate change, a
 * paused device, a noisy clock). */
static inline void clock_step(sio_slot *s, uint64_t dt)
{
    sio_clock_run *r = &s->run;
    uint64_t dev = dt > r->first ? dt - r->first : r->first - dt;
    if (r->pairs && s->last_n_samp == r->n_samp && dev <= (r->first >> 4) + 1) {
        if (r->pairs < CLOCK_MAX_PAIRS) {
            r->sum += dt;
            r->pairs++;
        }
        if (dev > r->jitter)
            r->jitter = dev;
        return;
    }
    if (r->pairs >= CLOCK_MIN_PAIRS)
        s->learnt = *r;
    r->sum = dt;
    r->pairs = 1;
    r->n_samp = s->last_n_samp;
    r->first = dt;
    r->jitter = 0;
}

/* The run to read a gap off, or NULL if the clock is not trusted yet. */
static const sio_clock_run *clock_trusted(const sio_slot *s)
{
    if (s->run.pairs >= CLOCK_MIN_PAIRS && s->run.sum >= s->run.pairs)
        return &s->run;
    if (s->learnt.pairs >= CLOCK_MIN_PAIRS && s->learnt.sum >= s->learnt.pairs)
        return &s->learnt;
    return NULL;
}

typedef struct {
    uint32_t kind;
    uint32_t flags;
    uint64_t lost;
    uint64_t step; /* how far the unwrapped counter moves to this frame */
} loss_verdict;

/* The least value >= lb that is congruent to d modulo mod. */
static uint64_t congruent_at_least(uint64_t d, uint64_t lb, uint64_t mod)
{
    if (lb <= d)
        return d;
    return lb + (d + mod - lb % mod) % mod;
}

/* Rare paths, kept out of line so that the common one stays small. */
#if defined(__GNUC__)
#define SIO_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define SIO_NOINLINE __declspec(noinline)
#else
#define SIO_NOINLINE
#endif
#if defined(__GNUC__)
#define SIO_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define SIO_LIKELY(x) (x)
#endif

static loss_verdict judge_counter(const sio_parser *p, const sio_slot *s, const sio_frame_meta *m, uint64_t d);

/* A frame that is not the next one by its counter, or the first after a
 * discontinuity: how many frames were lost before it. */
static SIO_NOINLINE void judge_loss(const sio_parser *p, const sio_slot *s, const sio_frame_meta *m,
                                    loss_verdict *out)
{
    uint64_t mod = m->seq_modulus;
    uint64_t d = ((uint64_t)m->seq + mod - s->last_seq - 1) % mod;
    loss_verdict v = judge_counter(p, s, m, d);
    /* the unwrapped counter: onwards by the frames counted, or after a
     * restart by the counter's own step */
    v.step = v.kind == SIO_EV_RESTART ? (d + 1) % mod : 1 + v.lost;
    *out = v;
}

static loss_verdict judge_counter(const sio_parser *p, const sio_slot *s, const sio_frame_meta *m, uint64_t d)
{
    loss_verdict v = {0, 0, 0, 0};
    uint64_t mod = m->seq_modulus;
    int cut = s->pending_event != 0; /* bytes are missing: the counter may have aliased */

    /* a lower bound from the bytes lost, when they can only be this stream's */
    uint64_t lb = 0;
    uint32_t wire = s->wire_max > m->wire_max ? s->wire_max : m->wire_max;
    if (cut && s->pending_lost_bytes && wire) {
        int streams = 0;
        for (int i = 0; i < SIO_MAX_STREAMS; i++)
            streams += p->slots[i].stream_id >= 0;
        if (m->in_every_frame || streams == 1)
            lb = s->pending_lost_bytes / wire;
    }

    const sio_clock_run *r = m->time_modulus ? clock_trusted(s) : NULL;
    uint64_t dt = (m->time - s->last_time) & (m->time_modulus - 1);
    double ticks_per_row = r ? (double)r->sum / ((double)r->pairs * r->n_samp) : 0;
    /* frames in one turn of the clock: one that wraps within the counter's
     * range cannot resolve the counter's aliasing */
    double wrap_frames = r ? (double)m->time_modulus / (ticks_per_row * m->n_samp) : 0;
    if (r && wrap_frames >= 2.0 * (double)mod) {
        if (dt >= m->time_modulus / 2) {
            if (cut) { /* the clock went backwards across the loss */
                v.kind = SIO_EV_RESTART;
                return v;
            }
        } else {
            /* rows elapsed since the last frame's first row, then frames lost;
             * the error: each end of the run and of the gap may be off by the
             * run's jitter, plus a tick of rounding */
            double rows = (double)dt / ticks_per_row - s->last_n_samp;
            double est = rows / m->n_samp;
            if (est > 1e15)
                est = 1e15; /* cannot happen with clocks of 32 bits or less; keeps the casts defined */
            double err_ticks = 2.0 * (double)r->jitter + 1.0;
            double tol = 1.0 + (est > 0 ? est : 0) * err_ticks / (double)r->sum +
                         err_ticks / (ticks_per_row * m->n_samp);
            uint64_t k = est > (double)d ? (uint64_t)(((est - (double)d) / (double)mod) + 0.5) : 0;
            double count = (double)d + (double)k * (double)mod;
            double off = count > est ? count - est : est - count;
            if (2.0 * tol < (double)mod) {
                if (off <= tol) { /* clock and counter agree */
                    v.lost = d + k * mod;
                    if (v.lost != d || cut || d >= mod / 2)
                        v.flags |= SIO_EVF_CLOCK;
                    /* the bytes lost say the clock wrapped during the loss */
                    if ((double)lb >= (double)v.lost + wrap_frames / 2) {
                        v.lost = congruent_at_least(d, lb, mod);
                        v.flags |= SIO_EVF_AT_LEAST;
                    }
                    v.kind = v.lost ? SIO_EV_GAP : 0;
                    return v;
                }
                /* they disagree: the counter's rules below */
            } else if (cut || est - tol >= (double)(mod / 2)) {
                /* a long gap that the clock cannot pin to one frame: at least */
                uint64_t at_least = est - tol > 0 ? (uint64_t)(est - tol) : 0;
                v.lost = congruent_at_least(d, at_least > lb ? at_least : lb, mod);
                v.flags = SIO_EVF_AT_LEAST | SIO_EVF_CLOCK;
                v.kind = v.lost ? SIO_EV_GAP : 0;
                return v;
            }
        }
    }
    if (lb) {
        v.lost = congruent_at_least(d, lb, mod);
        v.kind = SIO_EV_GAP;
        v.flags = SIO_EVF_AT_LEAST;
        return v;
    }
    int64_t host_ns = r ? 0 : host_gap_ns(p, s);
    /* a counter that starts over only on command, set back on an unbroken
     * stream with as much host time passed as the frames in between take: a
     * dropout, not a restart (without that time, a damaged counter byte
     * would book a turn of phantom losses) */
    int gap = d < mod / 2 || (m->restarts_on_command && !cut && host_gap_may_hold(p, host_ns, d));
    if (d && gap && host_gap_may_hold(p, host_ns, d + mod)) {
        /* the counter alone: as much host time passed as a whole turn of it */
        v.kind = SIO_EV_GAP;
        v.lost = d;
        v.flags = SIO_EVF_AT_LEAST;
        return v;
    }
    if (d) {
        if (gap) {
            v.kind = SIO_EV_GAP;
            v.lost = d;
            if (cut)
                v.flags = SIO_EVF_AT_LEAST;
        } else {
            v.kind = SIO_EV_RESTART;
        }
    }
    return v;
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
    int consecutive = 0;
    uint32_t kind = 0, flags = 0;
    uint64_t lost = 0, step = 1;
    if (m->seq_modulus && s->have_seq) {
        if (SIO_LIKELY((m->seq == s->last_seq + 1 || (m->seq == 0 && s->last_seq + 1 == m->seq_modulus)) &&
                       !s->pending_event)) {
            consecutive = 1; /* the common case */
        } else {
            loss_verdict v;
            judge_loss(p, s, m, &v);
            kind = v.kind;
            flags = v.flags;
            lost = v.lost;
            step = v.step;
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
        e->flags = flags;
        e->seq_before = s->last_seq;
        e->seq_after = m->seq;
        e->lost_frames = lost;
        e->lost_samples = lost * m->n_samp;
        if (kind == SIO_EV_GAP) {
            p->stats.lost_samples += lost * m->n_samp;
            if (!m->rides_along) {
                p->stats.lost_frames += lost;
                p->stats.gaps_at_least += (flags & SIO_EVF_AT_LEAST) != 0;
                p->stats.gaps_by_clock += (flags & SIO_EVF_CLOCK) != 0;
            }
        } else {
            p->stats.restarts += !m->rides_along; /* a device restart, seen once per wire frame */
        }
    }
    if (consecutive && m->time_modulus)
        clock_step(s, (m->time - s->last_time) & (m->time_modulus - 1));
    uint64_t time = m->time;
    if (m->time_from_counter)
        time = s->counter = s->have_seq ? s->counter + step : m->seq;
    s->have_seq = 1;
    /* when this frame's bytes came: after the read before its own (a bound
     * that holds however late the read); after a gap judged now, from its
     * own read, so that the silence it closed is not judged twice */
    s->last_after_ns = kind && p->read_before_ns ? p->read_ns : p->read_before_ns;
    s->last_seq = m->seq;
    s->last_n_samp = m->n_samp;
    s->last_time = m->time;
    if (m->wire_max > s->wire_max)
        s->wire_max = m->wire_max;
    p->booked_time = time;

    size_t f = b->n_frames++;
    b->frame_seq[f] = m->seq;
    b->frame_time[f] = time;
    b->frame_leadoff[f] = m->leadoff;
    b->frame_row[f] = row;
    int32_t *dst = b->samples + (size_t)row * m->n_ch;
    b->n_rows += m->n_samp;
    p->stats.frames_ok += !m->rides_along;
    p->stats.samples_ok += m->n_samp;
    return dst;
}
