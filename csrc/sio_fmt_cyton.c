/* sio_fmt_cyton.c - OpenBCI Cyton framing: 33-byte packets
 *   A0, sample number, 8 x int24 big-endian, 6 aux bytes, stop byte C0..C6.
 * There is no checksum, so a packet is trusted only when its start and stop
 * bytes line up; outside the steady state (before the first trusted packet,
 * after a discontinuity, after rejected bytes) the packet after it must line
 * up too, so joining mid-packet or garbage never yields a phantom sample. A rejected candidate rewinds to the byte after its start,
 * so a false start inside garbage never swallows the next good packet.
 *
 * Stream 0: the 8 channels (enc SIO1_ENC_I24), seq = sample number modulo
 * 256. Stream 1: the accelerometer, 3 x int16 big-endian from the aux bytes,
 * only in packets whose stop byte is C0 and whose aux bytes are not all zero
 * (the board sends it at a lower rate, zeros in between). frame_time of both
 * is the sample number unwrapped to 64 bits, which aligns the two streams.
 *
 * Bytes outside packets: bytes_resync before the first trusted packet,
 * bytes_malformed after it (one malformed event per bad run). */
#include "sio_parser.h"

#include <string.h>

enum { PK = SIO_CYTON_PACKET };

void sio_fmt_cyton_reset(sio_fmt_cyton *s)
{
    memset(s, 0, sizeof *s);
}

size_t sio_fmt_cyton_pending_bytes(const sio_fmt_cyton *s)
{
    return s->carry_len + (s->pending.active ? s->pending.wire : 0);
}

void sio_fmt_cyton_discontinuity(sio_parser *p)
{
    sio_fmt_cyton *s = &p->fmt.cyton;
    p->stats.bytes_resync += s->carry_len;
    s->carry_len = 0;
    s->locked = 0;
    s->bad = 0;
}

static inline int stop_ok(uint8_t b)
{
    return (b & 0xF0u) == 0xC0u && (b & 0x0Fu) <= 6;
}

static inline int32_t be24(const uint8_t *b)
{
    uint32_t u = ((uint32_t)b[0] << 16) | ((uint32_t)b[1] << 8) | b[2];
    return (int32_t)(u ^ 0x800000u) - 0x800000; /* sign-extend without UB */
}

static inline int accel_present(const uint8_t *pk)
{
    return pk[32] == 0xC0 && (pk[26] | pk[27] | pk[28] | pk[29] | pk[30] | pk[31]);
}

/* Books the packet from part `part` on. Returns DONE, or NEED_BLOCK with
 * *part_out telling which part still has to go. */
static int emit_packet(sio_parser *p, sio_fmt_cyton *s, const uint8_t *pk, int part, int *part_out)
{
    sio_frame_meta m;
    uint32_t seq = pk[1];
    if (part == 0) {
        uint64_t counter = s->have_seq ? s->counter + ((seq - s->last_seq) & 0xFFu) : seq;
        m.stream_id = SIO_CYTON_STREAM_EEG;
        m.n_ch = 8;
        m.n_samp = 1;
        m.enc = SIO1_ENC_I24;
        m.seq = seq;
        m.seq_modulus = 256;
        m.time = counter;
        m.leadoff = 0;
        int32_t *dst = sio_emit_frame(p, &m);
        if (!dst) {
            *part_out = 0;
            return SIO_FEED_NEED_BLOCK;
        }
        const uint8_t *b = pk + 2;
        for (int c = 0; c < 8; c++, b += 3)
            dst[c] = be24(b);
        s->have_seq = 1;
        s->last_seq = seq;
        s->counter = counter;
        part = 1;
    }
    if (part == 1 && accel_present(pk)) {
        m.stream_id = SIO_CYTON_STREAM_ACCEL;
        m.n_ch = 3;
        m.n_samp = 1;
        m.enc = SIO1_ENC_I16;
        m.seq = seq;
        m.seq_modulus = 0; /* not in every packet: the counter says nothing about loss */
        m.time = s->counter;
        m.leadoff = 0;
        int32_t *dst = sio_emit_frame(p, &m);
        if (!dst) {
            *part_out = 1;
            return SIO_FEED_NEED_BLOCK;
        }
        for (int c = 0; c < 3; c++)
            dst[c] = (int16_t)(uint16_t)((pk[26 + 2 * c] << 8) | pk[27 + 2 * c]);
    }
    p->stats.bytes_ok += PK;
    s->bad = 0;
    return SIO_FEED_DONE;
}

/* Accepts a trusted packet; on NEED_BLOCK keeps a copy to finish later. */
static int take_packet(sio_parser *p, sio_fmt_cyton *s, const uint8_t *pk)
{
    int part;
    s->locked = 1;
    if (emit_packet(p, s, pk, 0, &part) == SIO_FEED_DONE)
        return SIO_FEED_DONE;
    memcpy(s->frame, pk, PK);
    s->pending.active = 1;
    s->pending.part = part;
    s->pending.wire = PK;
    return SIO_FEED_NEED_BLOCK;
}

/* Books n bytes that are not part of any packet. */
static void skip_bytes(sio_parser *p, sio_fmt_cyton *s, size_t n)
{
    if (!n)
        return;
    if (!s->locked) {
        p->stats.bytes_resync += n;
        return;
    }
    if (!s->bad) {
        s->bad = 1;
        p->stats.malformed++;
    }
    p->stats.bytes_malformed += n;
}

static inline int steady(const sio_fmt_cyton *s)
{
    return s->locked && !s->bad;
}

/* Does a packet at b line up: valid stop byte, and the next packet starts
 * right after it? 1 yes, 0 no, -1 need more bytes. When flushing
 * (s->final) no more bytes will come, so a packet at the very end lines up. */
static inline int lined_up(const sio_fmt_cyton *s, const uint8_t *b, size_t avail)
{
    if (avail < PK)
        return -1;
    if (!stop_ok(b[PK - 1]))
        return 0;
    if (avail == PK)
        return s->final ? 1 : -1;
    return b[PK] == SIO_CYTON_START;
}

/* Is there a trusted packet at b (avail bytes there)? 1 yes, 0 no, -1 need
 * more bytes (at most 2 packets).
 * A valid stop byte alone would let a truncated packet, whose stop position
 * falls on a C0..C6 byte of the next packet, eat that packet; so the next
 * packet must start right after. If it does not, either its start byte is
 * corrupt (keep this packet) or this one is truncated, which shows as a
 * packet lining up from inside this one (reject this one).
 * Outside the steady state the next packet's stop byte must be valid too. */
static int candidate(const sio_fmt_cyton *s, const uint8_t *b, size_t avail)
{
    int v = lined_up(s, b, avail);
    if (v < 0)
        return -1;
    if (v == 0) {
        if (!steady(s) || !stop_ok(b[PK - 1]))
            return 0;
        for (size_t j = 1; j < PK; j++) {
            if (b[j] != SIO_CYTON_START)
                continue;
            int alt = lined_up(s, b + j, avail - j);
            if (alt < 0)
                return -1;
            if (alt)
                return 0;
        }
        return 1;
    }
    if (steady(s) || avail == PK)
        return 1;
    if (avail < 2 * PK)
        return s->final ? 1 : -1;
    return stop_ok(b[2 * PK - 1]);
}

/* Bytes of a rejected candidate at b to skip: up to the next start byte. */
static size_t rewind_skip(const uint8_t *b, size_t avail)
{
    const uint8_t *next = avail > 1 ? memchr(b + 1, SIO_CYTON_START, avail - 1) : NULL;
    return next ? (size_t)(next - b) : avail;
}

int sio_fmt_cyton_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    sio_fmt_cyton *s = &p->fmt.cyton;
    size_t i = 0;
    int status = SIO_FEED_DONE;

    if (s->pending.active) {
        int part;
        if (emit_packet(p, s, s->frame, s->pending.part, &part) != SIO_FEED_DONE) {
            s->pending.part = part;
            *consumed = 0;
            return SIO_FEED_NEED_BLOCK;
        }
        s->pending.active = 0;
    }

    /* A candidate that straddles feed calls is completed in carry[]. */
    while (s->carry_len) {
        size_t take = sizeof s->carry - s->carry_len;
        if (take > len - i)
            take = len - i;
        memcpy(s->carry + s->carry_len, data + i, take);
        s->carry_len += take;
        i += take;
        int verdict = candidate(s, s->carry, s->carry_len);
        if (verdict < 0) {
            if (s->carry_len < sizeof s->carry)
                goto done; /* all input is in carry */
            verdict = 0;   /* cannot happen: two packets always decide */
        }
        size_t drop;
        if (verdict) {
            status = take_packet(p, s, s->carry);
            drop = PK;
        } else {
            drop = rewind_skip(s->carry, s->carry_len);
            skip_bytes(p, s, drop);
        }
        s->carry_len -= drop;
        memmove(s->carry, s->carry + drop, s->carry_len);
        if (s->carry_len && s->carry[0] != SIO_CYTON_START) {
            /* after a packet whose successor's start byte is corrupt */
            size_t n = rewind_skip(s->carry, s->carry_len);
            skip_bytes(p, s, n);
            s->carry_len -= n;
            memmove(s->carry, s->carry + n, s->carry_len);
        }
        if (status != SIO_FEED_DONE)
            goto done;
    }

    while (i < len) {
        const uint8_t *b = data + i;
        if (*b != SIO_CYTON_START) {
            const uint8_t *start = memchr(b, SIO_CYTON_START, len - i);
            size_t n = start ? (size_t)(start - b) : len - i;
            skip_bytes(p, s, n);
            i += n;
            continue;
        }
        size_t avail = len - i;
        if (steady(s) && avail > PK && stop_ok(b[PK - 1]) && b[PK] == SIO_CYTON_START) {
            /* the steady state */
            i += PK;
            status = take_packet(p, s, b);
            if (status != SIO_FEED_DONE)
                break;
            continue;
        }
        int verdict = candidate(s, b, avail);
        if (verdict < 0) {
            memcpy(s->carry, b, avail);
            s->carry_len = avail;
            i = len;
            break;
        }
        if (verdict) {
            i += PK;
            status = take_packet(p, s, b);
            if (status != SIO_FEED_DONE)
                break;
        } else {
            size_t n = rewind_skip(b, avail);
            skip_bytes(p, s, n);
            i += n;
        }
    }
done:
    p->stats.bytes_in += i;
    *consumed = i;
    return status;
}

int sio_fmt_cyton_flush(sio_parser *p)
{
    static const uint8_t none[1];
    size_t consumed;
    p->fmt.cyton.final = 1;
    int status = sio_fmt_cyton_feed(p, none, 0, &consumed);
    p->fmt.cyton.final = 0;
    return status;
}
