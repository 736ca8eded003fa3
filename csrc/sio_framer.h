/* sio_framer.h - the framing shared by the binary formats whose frames start
 * with sync bytes and have no delimiter (OpenBCI Cyton, declarative specs).
 *
 * A candidate frame starts with the sync bytes; the format tells its size and
 * whether it checks out (sio_framer_ops.check). With confirm (formats without
 * a strong checksum), a valid frame must be followed by the next one's sync
 * bytes; if it is not, it is rejected only when a frame lining up starts
 * inside it (it was truncated), else the next frame's start is what is
 * corrupt. While locked, a frame whose counter continues the last one
 * (sio_framer_ops.continues) is trusted without waiting for the next sync
 * bytes when they have not arrived yet. Outside the steady state (before the first trusted frame, after a
 * discontinuity, after rejected bytes) the whole next frame must check out
 * too, so joining mid-frame or garbage never yields a phantom frame. A
 * rejected candidate rewinds to the next sync start after its first byte (in
 * the bytes at hand), so a false start inside garbage never swallows the next
 * good frame.
 * Bytes outside frames: bytes_resync before the first trusted frame,
 * bytes_malformed after it (one malformed event per bad run; a failed
 * checksum also counts one crc_error and its bytes, up to the next sync start
 * in the bytes at hand, go to bytes_crc).
 *
 * A candidate that straddles feed calls is completed in a carry buffer, which
 * then runs ahead of the input until it empties.
 *
 * sio_framer.c has the bookkeeping; the scanning (sio_framer_feed/flush) is
 * in sio_framer_impl.h, which each format includes so that its hooks are
 * compiled into the scanning loops. */
#ifndef SIO_FRAMER_H
#define SIO_FRAMER_H

#include <stddef.h>
#include <stdint.h>

struct sio_parser;

enum {
    SIO_FRAMER_MAX_SYNC = 8,
    SIO_FRAMER_MAX_FRAME = 2048,
    SIO_FRAMER_MAX_CARRY = 2 * SIO_FRAMER_MAX_FRAME + SIO_FRAMER_MAX_SYNC
};

/* Verdicts on a candidate frame. */
enum {
    SIO_FRAMER_NEED_MORE = -1,
    SIO_FRAMER_BAD = 0,
    SIO_FRAMER_GOOD = 1,
    SIO_FRAMER_BAD_CHECKSUM = 2
};

/* What a format supplies: a static const table whose hooks are declared
 * SIO_FRAMER_HOOK (sio_framer_impl.h). */
typedef struct {
    /* A candidate at b (avail >= 1 bytes there, its sync bytes match as far
     * as avail goes): SIO_FRAMER_GOOD with its size in *size, _BAD,
     * _BAD_CHECKSUM, or _NEED_MORE. A verdict may depend only on the bytes it
     * needs, so more bytes never change it. */
    int (*check)(const struct sio_parser *p, const uint8_t *b, size_t avail, size_t *size);
    /* Optional: bookkeeping once per trusted frame, before its first part. */
    void (*start)(struct sio_parser *p, const uint8_t *f, size_t size);
    /* Books the frame's parts (e.g. its streams) from `part` on: returns
     * SIO_FEED_DONE, or SIO_FEED_NEED_BLOCK with *part_out the part still to
     * go (it is called again with that part, with the same frame). */
    int (*emit)(struct sio_parser *p, const uint8_t *f, size_t size, int part, int *part_out);
    /* Optional: does the frame at f (checked GOOD) continue the last trusted
     * one (its counter is the next one)? While locked, such a frame is
     * trusted at once, without waiting for the next frame's sync bytes, so a
     * live stream has no added latency; when those bytes are already there,
     * they are checked as before. NULL: always wait (confirm). */
    int (*continues)(const struct sio_parser *p, const uint8_t *f, size_t size);
    /* The carry: its size (<= SIO_FRAMER_MAX_CARRY; enough for any
     * candidate to decide), and how it is worked through, which shows in the
     * statistics (where a rejection's bytes_crc end) and is kept as each
     * format always had it. 0: every candidate it holds, then it is refilled;
     * stops at once on NEED_BLOCK. 1: one candidate and the bytes up to the
     * next sync start per fill, also on NEED_BLOCK (so those bytes are
     * skipped before the waiting frame is booked, which then ends their bad
     * run: the result depends on where output blocks fill up). */
    size_t carry_size;
    int carry_one_candidate;
} sio_framer_ops;

typedef struct {
    uint8_t sync[SIO_FRAMER_MAX_SYNC];
    size_t sync_len;
    size_t max_frame;
    int confirm;                /* lock on two consecutive frames, not one */
    size_t carry_len;
    int final;                  /* flushing: no more bytes will come */
    int locked;                 /* a confirmed frame boundary has been seen */
    int bad;                    /* inside a run of rejected bytes since the last good frame */
    int pending;                /* a valid frame in frame[] not fully booked (NEED_BLOCK) */
    int pending_part;
    size_t pending_size;
    uint8_t carry[SIO_FRAMER_MAX_CARRY];
    uint8_t frame[SIO_FRAMER_MAX_FRAME];
} sio_framer;

/* Sets the frame shape (sync bytes, largest frame, confirm) and resets.
 * Returns 0, or -1 if sync_len is not 1..SIO_FRAMER_MAX_SYNC or max_frame
 * not sync_len..SIO_FRAMER_MAX_FRAME. */
int sio_framer_init(sio_framer *f, const uint8_t *sync, size_t sync_len, size_t max_frame, int confirm);
/* Forgets the stream: no carry, no pending frame, not locked. */
void sio_framer_reset(sio_framer *f);
/* sio_framer_feed(p, f, ops, data, len, consumed) and sio_framer_flush(p,
 * f, ops) are in sio_framer_impl.h. */
size_t sio_framer_pending_bytes(const sio_framer *f);
/* Drops the partial candidate (as bytes_resync) and unlocks. */
void sio_framer_discontinuity(struct sio_parser *p, sio_framer *f);

#endif
