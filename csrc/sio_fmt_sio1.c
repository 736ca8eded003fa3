/* sio_fmt_sio1.c - SIO-1 framing: find 0x00 delimiters, COBS-decode, check,
 * and book DATA frames and messages. Frames contained in one feed call are
 * decoded straight from the caller's bytes; only a frame that straddles two
 * calls (or the ring's wrap) is copied, into a bounded buffer. */
#include "sio_parser.h"

#include <string.h>

void sio_fmt_sio1_reset(sio_fmt_sio1 *s)
{
    s->enc_len = 0;
    s->oversized = 0;
    s->fresh = 1;
    s->pending = 0;
    s->pending_wire = 0;
}

size_t sio_fmt_sio1_pending_bytes(const sio_fmt_sio1 *s)
{
    return s->enc_len;
}

/* Emits the valid frame in s->frame. Returns a SIO_FEED_* status. */
static int emit_pending(sio_parser *p, sio_fmt_sio1 *s)
{
    size_t len = s->pending;
    const uint8_t *f = s->frame;
    if (f[0] == SIO1_TYPE_DATA) {
        sio1_data d;
        sio1_check_frame(f, len, &d); /* already validated: only fills d */
        sio_frame_meta m;
        memset(&m, 0, sizeof m);
        m.stream_id = d.stream;
        m.n_ch = d.n_ch;
        m.n_samp = d.n_samp;
        m.enc = d.enc;
        m.seq = d.seq;
        m.seq_modulus = 65536;
        m.time = d.t_us;
        m.time_modulus = (uint64_t)1 << 32;
        m.leadoff = d.leadoff;
        m.wire_max = (uint32_t)SIO1_WIRE_MAX(len);
        int32_t *dst = sio_emit_frame(p, &m);
        if (!dst) {
            if (p->need_slot >= 0)
                return SIO_FEED_NEED_BLOCK;
            /* more streams than slots: the frame is valid but cannot be kept */
            p->stats.too_many_streams++;
            p->stats.bytes_malformed += s->pending_wire;
            p->stats.malformed++;
            s->pending = 0;
            return SIO_FEED_DONE;
        }
        sio1_unpack(d.enc, d.samples, (size_t)d.n_ch * d.n_samp, dst);
    } else {
        if (sio_emit_message(p, f[0], f + 1, len - 3) < 0)
            return SIO_FEED_NEED_MSG;
    }
    p->stats.bytes_ok += s->pending_wire;
    s->pending = 0;
    return SIO_FEED_DONE;
}

/* Checks one complete encoded frame (wire = its bytes incl. delimiter). */
static int take_frame(sio_parser *p, sio_fmt_sio1 *s, const uint8_t *enc, size_t enc_len, size_t wire)
{
    sio_stats *st = &p->stats;
    int fresh = s->fresh;
    s->fresh = 0;
    long n = sio_cobs_decode_nz(enc, enc_len, s->frame, sizeof s->frame);
    int verdict;
    if (n == SIO_COBS_ERR_SPACE) {
        if (fresh) {
            st->bytes_resync += wire;
        } else {
            st->oversized++;
            st->bytes_oversized += wire;
        }
        return SIO_FEED_DONE;
    }
    verdict = n < 0 ? -1 : sio1_check_frame(s->frame, (size_t)n, NULL);
    if (verdict != SIO1_OK && fresh) {
        /* joined mid-frame: not the device's fault */
        st->bytes_resync += wire;
        return SIO_FEED_DONE;
    }
    switch (verdict) {
    case SIO1_OK:
        s->pending = (size_t)n;
        s->pending_wire = wire;
        return emit_pending(p, s);
    case -1:
        st->cobs_errors++;
        st->bytes_cobs += wire;
        break;
    case SIO1_ERR_CRC:
        st->crc_errors++;
        st->bytes_crc += wire;
        break;
    case SIO1_ERR_UNKNOWN_TYPE:
        st->unknown_type++;
        st->bytes_unknown += wire;
        break;
    default:
        st->malformed++;
        st->bytes_malformed += wire;
        break;
    }
    return SIO_FEED_DONE;
}

int sio_fmt_sio1_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    sio_fmt_sio1 *s = &p->fmt.sio1;
    sio_stats *st = &p->stats;
    size_t i = 0;
    int status = SIO_FEED_DONE;

    if (s->pending) {
        status = emit_pending(p, s);
        if (status != SIO_FEED_DONE) {
            *consumed = 0;
            return status;
        }
    }
    while (i < len) {
        const uint8_t *seg = data + i;
        const uint8_t *zero = memchr(seg, 0, len - i);
        if (!zero) {
            size_t chunk = len - i;
            st->bytes_in += chunk;
            if (s->oversized) {
                st->bytes_oversized += chunk;
            } else if (s->enc_len + chunk > SIO1_MAX_ENCODED) {
                s->oversized = 1;
                st->bytes_oversized += s->enc_len + chunk;
                s->enc_len = 0;
            } else {
                memcpy(s->enc + s->enc_len, seg, chunk);
                s->enc_len += chunk;
            }
            i = len;
            break;
        }
        size_t seg_len = (size_t)(zero - seg);
        i += seg_len + 1;
        st->bytes_in += seg_len + 1;
        if (s->oversized) {
            s->oversized = 0;
            s->fresh = 0;
            st->oversized++;
            st->bytes_oversized += seg_len + 1;
            continue;
        }
        size_t total = s->enc_len + seg_len;
        if (total == 0) {
            st->bytes_idle++;
            s->fresh = 0;
            continue;
        }
        if (total > SIO1_MAX_ENCODED) {
            if (s->fresh) {
                st->bytes_resync += total + 1;
            } else {
                st->oversized++;
                st->bytes_oversized += total + 1;
            }
            s->fresh = 0;
            s->enc_len = 0;
            continue;
        }
        const uint8_t *enc = seg;
        if (s->enc_len) {
            memcpy(s->enc + s->enc_len, seg, seg_len);
            enc = s->enc;
        }
        s->enc_len = 0;
        status = take_frame(p, s, enc, total, total + 1);
        if (status != SIO_FEED_DONE)
            break;
    }
    *consumed = i;
    return status;
}
