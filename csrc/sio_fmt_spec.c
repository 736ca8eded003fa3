/* sio_fmt_spec.c - declarative binary formats: frames described by a
 * sio_spec (compiled from a TOML spec by sensorio/formats/spec.py).
 *
 * Framing is sio_framer.h's (shared with sio_fmt_cyton.c): a candidate
 * starts with the sync bytes; its size is fixed or read from a length field;
 * it is trusted when its size is in bounds and its trailer, last byte and
 * checksum (whichever the spec has) check out. spec.confirm is the framer's
 * confirm. Bytes outside frames: bytes_resync before the first trusted frame,
 * bytes_malformed after it (one malformed event per bad run; a failed
 * checksum also counts one crc_error).
 *
 * Per frame and stream: rows at data_offset + r * stride, channels at
 * offsets within a row. frame_time is the timestamp field if there is one,
 * else the counter unwrapped to 64 bits (counting the frames the parser
 * reports lost, sio_parser.h), else the frame index. */
#include "sio_framer_impl.h"
#include "sio_parser.h"

#include <string.h>

#include "sio_crc.h"

#define NO_FIELD INT32_MIN

void sio_fmt_spec_reset(sio_fmt_spec *s)
{
    sio_framer_reset(&s->framer);
    s->have_seq = 0;
    s->last_seq = 0;
    s->counter = 0;
}

size_t sio_fmt_spec_pending_bytes(const sio_fmt_spec *s)
{
    return sio_framer_pending_bytes(&s->framer);
}

void sio_fmt_spec_discontinuity(sio_parser *p)
{
    sio_framer_discontinuity(p, &p->fmt.spec.framer);
}

static inline int type_width(uint8_t t)
{
    return t & 7;
}

static int type_valid(uint8_t t, int channel)
{
    int w = type_width(t);
    if (t & ~(7 | SIO_FT_SIGNED | SIO_FT_BE | SIO_FT_FLOAT))
        return 0;
    if (w < 1 || w > 4)
        return 0;
    if (t & SIO_FT_FLOAT)
        return channel && w == 4 && !(t & SIO_FT_SIGNED);
    if (channel && w == 4 && !(t & SIO_FT_SIGNED))
        return 0; /* u32 does not fit an int32 code */
    return 1;
}

static inline uint32_t read_u(const uint8_t *b, uint8_t t)
{
    int w = type_width(t);
    uint32_t v = 0;
    if (t & SIO_FT_BE) {
        for (int i = 0; i < w; i++)
            v = (v << 8) | b[i];
    } else {
        for (int i = w - 1; i >= 0; i--)
            v = (v << 8) | b[i];
    }
    return v;
}

static inline int32_t read_code(const uint8_t *b, uint8_t t)
{
    uint32_t u = read_u(b, t);
    int w = type_width(t);
    if ((t & SIO_FT_SIGNED) && w < 4) {
        uint32_t sign = 1u << (8 * w - 1);
        return (int32_t)(u ^ sign) - (int32_t)sign; /* sign-extend without UB */
    }
    return (int32_t)u; /* i32 and f32 bits, unchanged */
}

/* A field offset: >= 0 from the start, < 0 from the end of a size-byte frame. */
static inline size_t at(int32_t off, size_t size)
{
    return off >= 0 ? (size_t)off : size - (size_t)(-(int64_t)off);
}

/* An end position: > 0 from the start, <= 0 from the end. */
static inline size_t at_end(int32_t off, size_t size)
{
    return off > 0 ? (size_t)off : size - (size_t)(-(int64_t)off);
}

static int ck_width(uint32_t kind)
{
    switch (kind) {
    case SIO_CK_XOR8:
    case SIO_CK_SUM8:
    case SIO_CK_CRC8:
        return 1;
    case SIO_CK_CRC16_CCITT:
    case SIO_CK_CRC16_MODBUS:
        return 2;
    case SIO_CK_CRC32:
        return 4;
    default:
        return 0;
    }
}

/* Does a field of w bytes at off fit every frame size in [lo, hi]? */
static int field_fits(int32_t off, int w, uint32_t lo, uint32_t hi)
{
    (void)hi;
    if (off == NO_FIELD)
        return 0;
    if (off >= 0)
        return (uint64_t)off + (uint64_t)w <= lo;
    int64_t back = -(int64_t)off;
    return back >= w && back <= (int64_t)lo;
}

static int end_fits(int32_t end, int64_t start, uint32_t lo, uint32_t hi)
{
    int64_t e_lo = end > 0 ? end : (int64_t)lo + end;
    int64_t e_hi = end > 0 ? end : (int64_t)hi + end;
    return e_lo >= start && e_hi >= start && e_lo <= (int64_t)lo && e_hi <= (int64_t)hi;
}

int sio_spec_check(const sio_spec *d)
{
    if (d->sync_len < 1 || d->sync_len > SIO_SPEC_MAX_SYNC)
        return -1;
    uint32_t lo, hi;
    if (d->fixed_size) {
        lo = hi = d->fixed_size;
    } else {
        lo = d->min_size;
        hi = d->max_size;
        if (!type_valid(d->len_type, 0) || (d->len_type & SIO_FT_SIGNED))
            return -1;
        if ((uint64_t)d->len_offset + (uint64_t)type_width(d->len_type) > lo)
            return -1;
    }
    if (lo < d->sync_len || lo > hi || hi > SIO_SPEC_MAX_FRAME)
        return -1;
    if (d->trailer_len > SIO_SPEC_MAX_TRAILER || d->trailer_len > lo - d->sync_len)
        return -1;
    if (d->seq_offset != NO_FIELD &&
        (!type_valid(d->seq_type, 0) || (d->seq_type & SIO_FT_SIGNED) || !field_fits(d->seq_offset, type_width(d->seq_type), lo, hi) ||
         d->seq_modulus == 1))
        return -1;
    if (d->seq_offset != NO_FIELD && type_width(d->seq_type) < 4 && d->seq_modulus > (1u << (8 * type_width(d->seq_type))))
        return -1;
    if (d->time_offset != NO_FIELD &&
        (!type_valid(d->time_type, 0) || (d->time_type & SIO_FT_SIGNED) || !field_fits(d->time_offset, type_width(d->time_type), lo, hi)))
        return -1;
    if (d->ck_kind != SIO_CK_NONE) {
        int w = ck_width(d->ck_kind);
        if (!w || !field_fits(d->ck_offset, w, lo, hi))
            return -1;
        if (d->ck_start < 0 || (uint32_t)d->ck_start > lo || !end_fits(d->ck_end, d->ck_start, lo, hi))
            return -1;
    }
    if (d->n_streams < 1 || d->n_streams > SIO_SPEC_MAX_STREAMS)
        return -1;
    for (uint32_t k = 0; k < d->n_streams; k++) {
        const sio_spec_stream *st = &d->streams[k];
        if (st->id > 255 || st->n_ch < 1 || st->n_ch > SIO_SPEC_MAX_CH || st->stride < 1 || st->data_offset < 0)
            return -1;
        for (uint32_t j = 0; j < k; j++)
            if (d->streams[j].id == st->id)
                return -1;
        for (uint32_t c = 0; c < st->n_ch; c++) {
            uint8_t t = st->types[c];
            if (!type_valid(t, 1) || (uint32_t)st->offsets[c] + (uint32_t)type_width(t) > st->stride)
                return -1;
            if (!!(t & SIO_FT_FLOAT) != !!st->is_float)
                return -1;
        }
        if (st->n_rows) {
            if ((uint64_t)st->data_offset + (uint64_t)st->n_rows * st->stride > lo)
                return -1;
        } else if (!end_fits(st->data_end, st->data_offset, lo, hi)) {
            return -1;
        }
        if (st->cond_offset != NO_FIELD && !field_fits(st->cond_offset, 1, lo, hi))
            return -1;
    }
    return 0;
}

int sio_fmt_spec_configure(sio_parser *p, const sio_spec *d)
{
    if (p->format != SIO_FMT_SPEC || sio_spec_check(d) != 0)
        return -1;
    sio_fmt_spec *s = &p->fmt.spec;
    s->d = *d;
    if (!s->d.fixed_size) {
        s->d.min_size = d->min_size;
        s->d.max_size = d->max_size;
    } else {
        s->d.min_size = s->d.max_size = d->fixed_size;
    }
    for (uint32_t k = 0; k < s->d.n_streams; k++) {
        sio_spec_stream *st = &s->d.streams[k];
        uint8_t t = st->types[0];
        int packed = 1;
        for (uint32_t ch = 0; ch < st->n_ch; ch++)
            packed &= st->types[ch] == t && st->offsets[ch] == ch * (uint32_t)type_width(t);
        st->packed_type = packed ? t : 0;
    }
    if (s->d.seq_offset != NO_FIELD && !s->d.seq_modulus) {
        int w = type_width(s->d.seq_type);
        s->d.seq_modulus = w < 4 ? 1u << (8 * w) : 0xFFFFFFFFu;
    }
    if (sio_framer_init(&s->framer, s->d.sync, s->d.sync_len, s->d.max_size, s->d.confirm != 0) != 0)
        return -1;
    s->configured = 1;
    sio_fmt_spec_reset(s);
    return 0;
}

/* Does the checksum of the frame b[0..size) match? */
static int checksum_ok(const sio_spec *d, const uint8_t *b, size_t size)
{
    size_t start = (size_t)d->ck_start, end = at_end(d->ck_end, size);
    const uint8_t *c = b + start;
    size_t n = end - start;
    uint32_t want;
    switch (d->ck_kind) {
    case SIO_CK_XOR8:
        want = sio_xor8(c, n);
        break;
    case SIO_CK_SUM8:
        want = sio_sum8(c, n);
        break;
    case SIO_CK_CRC8:
        want = sio_crc8(c, n);
        break;
    case SIO_CK_CRC16_CCITT:
        want = sio_crc16_ccitt(SIO_CRC16_CCITT_INIT, c, n);
        break;
    case SIO_CK_CRC16_MODBUS:
        want = sio_crc16_modbus(c, n);
        break;
    default:
        want = sio_crc32(c, n);
        break;
    }
    int w = ck_width(d->ck_kind);
    uint32_t got = read_u(b + at(d->ck_offset, size), (uint8_t)(w | (d->ck_big_endian ? SIO_FT_BE : 0)));
    return got == want;
}

/* Checks the frame b[0..size) (sync already matched): a SIO_FRAMER_ verdict. */
static inline int frame_valid(const sio_spec *d, const uint8_t *b, size_t size)
{
    if (d->trailer_len && memcmp(b + size - d->trailer_len, d->trailer, d->trailer_len) != 0)
        return SIO_FRAMER_BAD;
    if (d->use_end_set) {
        uint8_t last = b[size - 1];
        if (!(d->end_set[last >> 3] & (1u << (last & 7))))
            return SIO_FRAMER_BAD;
    }
    if (d->ck_kind != SIO_CK_NONE && !checksum_ok(d, b, size))
        return SIO_FRAMER_BAD_CHECKSUM;
    return SIO_FRAMER_GOOD;
}

/* A frame at b (sync bytes matched): its size, and whether it checks out. */
SIO_FRAMER_HOOK int check_frame(const sio_parser *p, const uint8_t *b, size_t avail, size_t *size)
{
    const sio_spec *d = &p->fmt.spec.d;
    size_t n;
    if (d->fixed_size) {
        n = d->fixed_size;
    } else {
        size_t w = (size_t)type_width(d->len_type);
        if (avail < d->len_offset + w)
            return SIO_FRAMER_NEED_MORE;
        int64_t v = (int64_t)read_u(b + d->len_offset, d->len_type) + (int64_t)d->len_adjust;
        if (v < (int64_t)d->min_size || v > (int64_t)d->max_size)
            return SIO_FRAMER_BAD;
        n = (size_t)v;
    }
    if (avail < n)
        return SIO_FRAMER_NEED_MORE;
    *size = n;
    return frame_valid(d, b, n);
}

/* Rows of stream k in a frame of this size, 0 if it has none. */
static uint32_t stream_rows(const sio_spec_stream *st, const uint8_t *f, size_t size)
{
    if (st->cond_offset != NO_FIELD && f[at(st->cond_offset, size)] != st->cond_value)
        return 0;
    size_t rows = st->n_rows;
    if (!rows) {
        size_t end = at_end(st->data_end, size);
        rows = (end - (size_t)st->data_offset) / st->stride;
    }
    if (st->skip_if_zero) {
        const uint8_t *r = f + st->data_offset;
        uint8_t any = 0;
        for (size_t i = 0; i < rows * st->stride; i++)
            any |= r[i];
        if (!any)
            return 0;
    }
    return (uint32_t)rows;
}

static void unpack_any(const sio_spec_stream *st, const uint8_t *row, uint32_t rows, int32_t *dst)
{
    uint32_t n_ch = st->n_ch;
    for (uint32_t r = 0; r < rows; r++, row += st->stride, dst += n_ch)
        for (uint32_t c = 0; c < n_ch; c++)
            dst[c] = read_code(row + st->offsets[c], st->types[c]);
}

/* Channels of one type packed from the start of each row: one loop per
 * type, with the width a constant the compiler can unroll. */
#define UNPACK_LOOP(W, EXPR)                                          \
    for (uint32_t r = 0; r < rows; r++, row += stride) {              \
        const uint8_t *b = row;                                       \
        for (uint32_t c = 0; c < n_ch; c++, b += (W))                 \
            *dst++ = (EXPR);                                          \
    }                                                                 \
    break

static void unpack_packed(uint8_t t, const uint8_t *row, uint32_t rows, uint32_t stride, uint32_t n_ch,
                          int32_t *dst)
{
    switch (t) {
    case SIO_FT_U8:
        UNPACK_LOOP(1, b[0]);
    case SIO_FT_I8:
        UNPACK_LOOP(1, (int8_t)b[0]);
    case SIO_FT_U16:
        UNPACK_LOOP(2, (int32_t)(uint16_t)(b[0] | (b[1] << 8)));
    case SIO_FT_U16 | SIO_FT_BE:
        UNPACK_LOOP(2, (int32_t)(uint16_t)((b[0] << 8) | b[1]));
    case SIO_FT_I16:
        UNPACK_LOOP(2, (int16_t)(uint16_t)(b[0] | (b[1] << 8)));
    case SIO_FT_I16 | SIO_FT_BE:
        UNPACK_LOOP(2, (int16_t)(uint16_t)((b[0] << 8) | b[1]));
    case SIO_FT_I24 | SIO_FT_BE:
        UNPACK_LOOP(3, (int32_t)((((uint32_t)b[0] << 16) | ((uint32_t)b[1] << 8) | b[2]) ^ 0x800000u) - 0x800000);
    case SIO_FT_I24:
        UNPACK_LOOP(3, (int32_t)((((uint32_t)b[2] << 16) | ((uint32_t)b[1] << 8) | b[0]) ^ 0x800000u) - 0x800000);
    default: {
        /* the rarer types (u24, i32, f32) through the generic reader */
        int w = type_width(t);
        UNPACK_LOOP(w, read_code(b, t));
    }
    }
}

/* Whether the frame counter tells this stream's losses: it is in every frame. */
static int counts_loss(const sio_spec *d, const sio_spec_stream *st)
{
    return d->seq_offset != NO_FIELD && st->cond_offset == NO_FIELD && !st->skip_if_zero;
}

/* The stream that stands for the frame in frames_ok and lost_frames, so that
 * a frame of several streams counts once: the first present one the counter
 * speaks for, else the first present one (-1: none). */
static int primary_stream(const sio_spec *d, const uint8_t *f, size_t size)
{
    int first = -1;
    for (int k = 0; k < (int)d->n_streams; k++) {
        const sio_spec_stream *st = &d->streams[k];
        int counted = counts_loss(d, st);
        if ((!counted && first >= 0) || !stream_rows(st, f, size))
            continue; /* past the first present one, only a counted one takes over */
        if (counted)
            return k;
        first = k;
    }
    return first;
}

/* Books the frame's streams from `part` on. */
static int emit_streams(sio_parser *p, sio_fmt_spec *s, const uint8_t *f, size_t size, int part,
                        int *part_out)
{
    const sio_spec *d = &s->d;
    int primary = primary_stream(d, f, size);
    for (int k = part; k < (int)d->n_streams; k++) {
        const sio_spec_stream *st = &d->streams[k];
        uint32_t rows = stream_rows(st, f, size);
        if (!rows)
            continue;
        sio_frame_meta m;
        memset(&m, 0, sizeof m);
        m.stream_id = st->id;
        m.n_ch = st->n_ch;
        m.n_samp = rows;
        m.enc = st->is_float ? SIO_ENC_F32 : st->enc;
        m.seq = s->cur_seq;
        /* a stream that is not in every frame cannot tell loss from its counter */
        m.seq_modulus = counts_loss(d, st) ? d->seq_modulus : 0;
        m.time = s->cur_time;
        if (d->time_offset != NO_FIELD)
            m.time_modulus = (uint64_t)1 << (8 * type_width(d->time_type));
        m.leadoff = 0;
        m.wire_max = d->fixed_size ? d->fixed_size : d->max_size;
        m.in_every_frame = m.seq_modulus != 0;
        /* no timestamp: the parser unwraps the counter, counting lost frames */
        m.time_from_counter = d->time_offset == NO_FIELD && m.seq_modulus;
        m.rides_along = k != primary;
        int32_t *dst = sio_emit_frame(p, &m);
        if (!dst) {
            if (p->need_slot >= 0) {
                *part_out = k;
                return SIO_FEED_NEED_BLOCK;
            }
            p->stats.too_many_streams++;
            continue;
        }
        if (m.time_from_counter)
            s->counter = s->cur_time = p->booked_time; /* for the frame's other streams and the next frame */
        const uint8_t *row = f + st->data_offset;
        if (st->packed_type)
            unpack_packed(st->packed_type, row, rows, st->stride, st->n_ch, dst);
        else
            unpack_any(st, row, rows, dst);
    }
    return SIO_FEED_DONE;
}

/* The counter and time of a trusted frame, before its streams go out. */
SIO_FRAMER_HOOK void start_frame(sio_parser *p, const uint8_t *f, size_t size)
{
    sio_fmt_spec *s = &p->fmt.spec;
    const sio_spec *d = &s->d;
    uint32_t seq;
    uint64_t counter;
    if (d->seq_offset != NO_FIELD) {
        seq = read_u(f + at(d->seq_offset, size), d->seq_type);
        if (d->seq_modulus && seq >= d->seq_modulus)
            seq %= d->seq_modulus;
        counter = s->have_seq ? s->counter + ((uint64_t)seq + d->seq_modulus - s->last_seq) % d->seq_modulus : seq;
    } else {
        counter = s->have_seq ? s->counter + 1 : 0;
        seq = (uint32_t)counter;
    }
    s->have_seq = 1;
    s->last_seq = seq;
    s->counter = counter;
    s->cur_seq = seq;
    s->cur_time = d->time_offset != NO_FIELD ? read_u(f + at(d->time_offset, size), d->time_type) : counter;
}

/* Does the frame continue the last trusted one (its counter is the next)?
 * Only a spec with a counter can tell. Without a checksum, the rest of a
 * frame that lost bytes joined to the first bytes of the next frame keeps
 * the right counter: a frame is then trusted at once only if the next
 * frame's start (its sync bytes, and its counter where it lies inside) is
 * not inside it; otherwise it waits for the next frame's sync bytes. */
SIO_FRAMER_HOOK int continues_frame(const sio_parser *p, const uint8_t *f, size_t size)
{
    const sio_fmt_spec *s = &p->fmt.spec;
    const sio_spec *d = &s->d;
    if (d->seq_offset == NO_FIELD || !s->have_seq || !d->seq_modulus)
        return 0;
    uint32_t seq = read_u(f + at(d->seq_offset, size), d->seq_type);
    if (seq >= d->seq_modulus)
        seq %= d->seq_modulus;
    if (((uint64_t)seq + d->seq_modulus - s->last_seq) % d->seq_modulus != 1)
        return 0;
    if (d->ck_kind != SIO_CK_NONE)
        return 1; /* the checksum vouches for it */
    size_t width = (size_t)type_width(d->seq_type);
    for (size_t j = 1; j < size; j++) {
        size_t n = size - j < d->sync_len ? size - j : d->sync_len;
        if (memcmp(f + j, d->sync, n) != 0)
            continue;
        if (d->seq_offset < 0 || j + (size_t)d->seq_offset + width > size)
            return 0; /* a start whose counter is not here: cannot rule it out */
        uint32_t next = read_u(f + j + (size_t)d->seq_offset, d->seq_type);
        if (next >= d->seq_modulus)
            next %= d->seq_modulus;
        if (((uint64_t)next + d->seq_modulus - seq) % d->seq_modulus == 1)
            return 0;
    }
    return 1;
}

SIO_FRAMER_HOOK int emit_frame(sio_parser *p, const uint8_t *f, size_t size, int part, int *part_out)
{
    return emit_streams(p, &p->fmt.spec, f, size, part, part_out);
}

static const sio_framer_ops spec_ops = {check_frame, start_frame, emit_frame, continues_frame,
                                        2 * SIO_SPEC_MAX_FRAME + SIO_SPEC_MAX_SYNC, 0};

int sio_fmt_spec_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    if (!p->fmt.spec.configured) {
        /* no descriptor: nothing can be a frame */
        p->stats.bytes_in += len;
        p->stats.bytes_resync += len;
        *consumed = len;
        return SIO_FEED_DONE;
    }
    return sio_framer_feed(p, &p->fmt.spec.framer, &spec_ops, data, len, consumed);
}

int sio_fmt_spec_flush(sio_parser *p)
{
    if (!p->fmt.spec.configured)
        return SIO_FEED_DONE;
    return sio_framer_flush(p, &p->fmt.spec.framer, &spec_ops);
}
