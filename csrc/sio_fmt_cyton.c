/* sio_fmt_cyton.c - OpenBCI Cyton framing: 33-byte packets
 *   A0, sample number, 8 x int24 big-endian, 6 aux bytes, stop byte C0..C6.
 * There is no checksum, so a packet is trusted only when its start and stop
 * bytes line up, with the next packet's start after it -- or, while locked,
 * when its sample number is the next one and the next packet has not arrived
 * yet (no added latency on a live stream); outside the steady state the
 * packet after it must line up too (sio_framer.h, with confirm), so
 * joining mid-packet or garbage never yields a phantom sample.
 *
 * Stream 0: the 8 channels (enc SIO1_ENC_I24), seq = sample number modulo
 * 256. Stream 1: the accelerometer, 3 x int16 big-endian from the aux bytes,
 * only in packets whose stop byte is C0 and whose aux bytes are not all zero
 * (the board sends it at a lower rate, zeros in between). frame_time of both
 * is the sample number unwrapped to 64 bits, which aligns the two streams.
 *
 * Bytes outside packets: bytes_resync before the first trusted packet,
 * bytes_malformed after it (one malformed event per bad run). */
#include "sio_framer_impl.h"
#include "sio_parser.h"

#include <string.h>

enum { PK = SIO_CYTON_PACKET };

static const uint8_t cyton_start = SIO_CYTON_START;

void sio_fmt_cyton_reset(sio_fmt_cyton *s)
{
    memset(s, 0, sizeof *s);
    sio_framer_init(&s->framer, &cyton_start, 1, PK, 1);
}

size_t sio_fmt_cyton_pending_bytes(const sio_fmt_cyton *s)
{
    return sio_framer_pending_bytes(&s->framer);
}

void sio_fmt_cyton_discontinuity(sio_parser *p)
{
    sio_framer_discontinuity(p, &p->fmt.cyton.framer);
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

/* A packet at b (start byte matched): its stop byte decides. */
SIO_FRAMER_HOOK int check_packet(const sio_parser *p, const uint8_t *b, size_t avail, size_t *size)
{
    (void)p;
    if (avail < PK)
        return SIO_FRAMER_NEED_MORE;
    *size = PK;
    return stop_ok(b[PK - 1]) ? SIO_FRAMER_GOOD : SIO_FRAMER_BAD;
}

/* Is the packet trusted without waiting for the next one's start byte: the
 * next sample number, the same stop byte as the last trusted packet, and no
 * start of the packet after it inside (A0 and the sample number after this
 * one)? Without a checksum, the rest of a packet that lost bytes, joined to
 * the first bytes of the next packet, keeps the right sample number; its
 * stop byte is then a byte of the next packet's header or data (1 in 256 to
 * be the same), and that header lies inside it. Such a packet, and the 1 in
 * ~2,000 real ones that hold those two bytes, wait for the next start byte. */
SIO_FRAMER_HOOK int continues_packet(const sio_parser *p, const uint8_t *b, size_t size)
{
    (void)size;
    int slot = p->slot_of[SIO_CYTON_STREAM_EEG] - 1;
    if (slot < 0)
        return 0;
    const sio_slot *s = &p->slots[slot];
    uint8_t seq = (uint8_t)(s->last_seq + 1u);
    if (!s->have_seq || b[1] != seq || b[PK - 1] != p->fmt.cyton.last_stop)
        return 0;
    const uint8_t *next = b + 2;
    while ((next = memchr(next, SIO_CYTON_START, (size_t)(b + PK - 1 - next))) != NULL) {
        if (next[1] == (uint8_t)(seq + 1u))
            return 0;
        next++;
    }
    return 1;
}

/* Books the packet from part `part` on. Returns DONE, or NEED_BLOCK with
 * *part_out telling which part still has to go. */
SIO_FRAMER_HOOK int emit_packet(sio_parser *p, const uint8_t *pk, size_t size, int part, int *part_out)
{
    sio_fmt_cyton *s = &p->fmt.cyton;
    sio_frame_meta m;
    (void)size;
    if (part == 0) {
        memset(&m, 0, sizeof m);
        m.seq = pk[1];
        m.n_samp = 1;
        m.stream_id = SIO_CYTON_STREAM_EEG;
        m.n_ch = 8;
        m.enc = SIO1_ENC_I24;
        m.seq_modulus = 256;
        m.time_from_counter = 1; /* the sample number, counting the samples lost */
        m.restarts_on_command = 1; /* it streams, and so counts from 0, only after 'b' */
        m.wire_max = PK;
        m.in_every_frame = 1;
        int32_t *dst = sio_emit_frame(p, &m);
        if (!dst) {
            *part_out = 0;
            return SIO_FEED_NEED_BLOCK;
        }
        const uint8_t *b = pk + 2;
        for (int c = 0; c < 8; c++, b += 3)
            dst[c] = be24(b);
        s->counter = p->booked_time;
        s->last_stop = pk[PK - 1];
        part = 1;
    }
    if (part == 1 && accel_present(pk)) {
        memset(&m, 0, sizeof m);
        m.seq = pk[1];
        m.n_samp = 1;
        m.stream_id = SIO_CYTON_STREAM_ACCEL;
        m.n_ch = 3;
        m.enc = SIO1_ENC_I16;
        m.seq_modulus = 0; /* not in every packet: the counter says nothing about loss */
        m.time = s->counter;
        m.rides_along = 1; /* the packet was counted with stream 0 */
        int32_t *dst = sio_emit_frame(p, &m);
        if (!dst) {
            *part_out = 1;
            return SIO_FEED_NEED_BLOCK;
        }
        for (int c = 0; c < 3; c++)
            dst[c] = (int16_t)(uint16_t)((pk[26 + 2 * c] << 8) | pk[27 + 2 * c]);
    }
    return SIO_FEED_DONE;
}

/* A carry of two packets, worked through one packet at a time. */
static const sio_framer_ops cyton_ops = {check_packet, NULL, emit_packet, continues_packet, 2 * PK, 1};

int sio_fmt_cyton_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    return sio_framer_feed(p, &p->fmt.cyton.framer, &cyton_ops, data, len, consumed);
}

int sio_fmt_cyton_flush(sio_parser *p)
{
    return sio_framer_flush(p, &p->fmt.cyton.framer, &cyton_ops);
}
