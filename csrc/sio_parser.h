/* sio_parser.h - the format-independent half of the frame engine.
 *
 * A parser turns bytes, in any chunking, into per-stream blocks of raw sample
 * codes written straight into buffers the caller owns, plus per-frame
 * metadata, gap/restart events, device messages and statistics that name
 * every byte and frame that was not accepted. Each wire format (sio_formats.h)
 * finds frames in the bytes and hands valid ones to sio_emit_frame(), which
 * does the bookkeeping every format shares.
 *
 * When an output buffer is missing or full, feeding stops with
 * SIO_FEED_NEED_BLOCK; the frame that did not fit is kept and goes out first
 * on the next call, so the caller only swaps buffers and calls again.
 * No allocation: the caller provides the parser's memory too.
 */
#ifndef SIO_PARSER_H
#define SIO_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "sio_ring.h"

/* CFFI_BEGIN */
#define SIO_MAX_STREAMS 16

/* Feed results. */
enum {
    SIO_FEED_DONE = 0,        /* all input consumed */
    SIO_FEED_NEED_BLOCK = 1,  /* stream slot sio_parser_need_slot() needs a fresh block */
    SIO_FEED_NEED_MSG = 2     /* the message buffer is full: drain it */
};

/* Event kinds, at the row of a block where the stream resumed. */
enum {
    SIO_EV_GAP = 1,       /* frame counter jumped: lost_frames/lost_samples missing */
    SIO_EV_RESTART = 2,   /* counter went backwards or jumped too far: device restarted */
    SIO_EV_OVERFLOW = 3,  /* host ring overflowed: lost_bytes were dropped before this row */
    SIO_EV_RESYNC = 4     /* the caller reported a discontinuity (reconnect, seek) */
};

/* sio_event.flags of a GAP (see "Counting lost frames" below). */
enum {
    SIO_EVF_AT_LEAST = 1, /* lost_frames/lost_samples are a lower bound, not a count */
    SIO_EVF_CLOCK = 2     /* counted from the device clock: the counter alone could not tell */
};

typedef struct {
    uint32_t row;           /* first row after the event, within the block */
    uint32_t kind;
    uint32_t seq_before;    /* counter of the last frame before (GAP/RESTART) */
    uint32_t seq_after;     /* counter of the first frame after */
    uint64_t lost_frames;
    uint64_t lost_samples;  /* per channel */
    uint64_t lost_bytes;    /* OVERFLOW */
    uint32_t flags;         /* SIO_EVF_* */
    uint32_t reserved;      /* 0 */
} sio_event;

/* One output block of one stream: buffers are the caller's, counts the
 * parser's. A block holds one layout (channel count); a frame with another
 * layout asks for a fresh block. */
typedef struct {
    int32_t *samples;        /* rows of n_ch codes, sample-major */
    size_t samples_cap;      /* in int32 values */
    uint32_t *frame_seq;
    uint64_t *frame_time;    /* device clock at each frame's first sample (SIO-1: t_us) */
    uint64_t *frame_leadoff;
    uint32_t *frame_row;     /* first row of each frame */
    size_t frames_cap;
    sio_event *events;
    size_t events_cap;
    size_t n_rows;
    size_t n_frames;
    size_t n_events;
    uint32_t n_ch;           /* 0 until the block's first frame */
    uint32_t enc;            /* format-specific sample encoding of the block */
} sio_block;

/* Counting lost frames. A stream with a frame counter (SIO-1 seq modulo
 * 65536, Cyton's sample number modulo 256, a spec's counter) lost d frames
 * when the counter steps by d + 1 (modulo M). The counter alone cannot tell d
 * from d + k*M: after a ring overflow or a resync (bytes are missing) and
 * across any gap of M frames or more. So, at a frame that is not the next
 * one or that follows a discontinuity:
 * - Device clock (SIO-1 t_us, a spec's timestamp field). The stream's frame
 *   period is learnt from a run of at least 4 consecutive frame pairs whose
 *   clock steps stay within 1/16 (and a tick) of the run's first step (a new
 *   run starts when they do not: a rate change, a pause). The clock's step
 *   across the gap gives an estimate with an error bound (the run's jitter
 *   at both ends of the run and of the gap); if the bound is under M/2 and a count
 *   congruent to d lies within it, that is the count (exact; SIO_EVF_CLOCK
 *   when the counter alone would have said something else or bytes were
 *   missing). A clock that disagrees with the counter is ignored; after a
 *   discontinuity a clock that went backwards is a restart; a clock that
 *   turns over within 2*M frames is not used.
 * - Bytes lost in an overflow (or given to sio_parser_discontinuity): when
 *   every wire frame carries the stream (Cyton, specs) or the device has sent
 *   one stream only, at least bytes / (the stream's largest wire frame)
 *   frames were lost, if those bytes were frames. Without a usable clock the
 *   count is the least value >= that bound congruent to d, flagged
 *   SIO_EVF_AT_LEAST; also when the bound exceeds the clock's count by half
 *   a turn of the clock (it wrapped during the loss).
 * - Otherwise the protocol's rule: 1 <= d < M/2 is a gap of d, else a device
 *   restart. After a discontinuity such a gap is flagged SIO_EVF_AT_LEAST.
 * lost_frames and lost_samples add up every gap, bounds included; a gap of
 * exactly k*M frames without a discontinuity looks like the next frame (as a
 * paused device does) and is not seen. Streams without a counter (ASCII
 * lines, spec streams not in every frame) count no lost frames.
 *
 * Every counter is cumulative since sio_parser_init. In bytes:
 * bytes_in = bytes_ok + bytes_crc + bytes_cobs + bytes_oversized
 *          + bytes_malformed + bytes_unknown + bytes_resync + bytes_idle
 *          + sio_parser_pending_bytes(). */
typedef struct {
    uint64_t bytes_in;
    uint64_t bytes_ok;          /* in accepted frames (data and messages), delimiters included */
    uint64_t frames_ok;         /* accepted data frames on the wire (one of several streams counts once) */
    uint64_t messages_ok;       /* accepted INFO/REPLY/LOG frames */
    uint64_t samples_ok;        /* rows accepted, summed over streams */
    uint64_t crc_errors;        /* frames */
    uint64_t bytes_crc;
    uint64_t cobs_errors;
    uint64_t bytes_cobs;
    uint64_t oversized;
    uint64_t bytes_oversized;
    uint64_t malformed;
    uint64_t bytes_malformed;
    uint64_t unknown_type;
    uint64_t bytes_unknown;
    uint64_t bytes_resync;      /* skipped before the first frame boundary / after a discontinuity */
    uint64_t bytes_idle;        /* lone delimiters and other inter-frame filler */
    uint64_t lost_frames;       /* in gaps: exact counts, plus the lower bounds of gaps_at_least */
    uint64_t lost_samples;      /* per channel, summed over streams; the same */
    uint64_t restarts;
    uint64_t ring_overflow_bytes;
    uint64_t ring_overflows;
    uint64_t too_many_streams;  /* frames of a stream beyond SIO_MAX_STREAMS (also in malformed) */
    uint64_t messages_dropped;  /* longer than the message buffer itself */
    uint64_t gaps_at_least;     /* gaps whose count is only a lower bound (SIO_EVF_AT_LEAST) */
    uint64_t gaps_by_clock;     /* gaps counted from the device clock (SIO_EVF_CLOCK) */
} sio_stats;

typedef struct sio_parser sio_parser;

size_t sio_parser_struct_size(void);
/* format is one of SIO_FMT_*; returns 0, or -1 for an unknown format. */
int sio_parser_init(sio_parser *p, int format);
sio_stats *sio_parser_stats(sio_parser *p);

/* Parses data[0..len). *consumed tells how far it got (all of it on DONE). */
int sio_parser_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed);
/* Parses what is in the ring, up to max_bytes, honouring its loss marks. */
int sio_parser_feed_ring(sio_parser *p, sio_ring *r, size_t max_bytes, size_t *consumed);
/* The stream position is about to jump (reconnect, ring loss): drop any
 * partial frame and resynchronise; every stream gets an event at its next
 * frame. lost_bytes may be 0 if unknown. */
void sio_parser_discontinuity(sio_parser *p, uint64_t lost_bytes, uint32_t kind);
/* The input has ended (end of file, or the caller wants what is there):
 * decide frames that a format holds back waiting for lookahead bytes (Cyton
 * and confirm-mode specs wait for the next frame's start, ASCII for a line
 * terminator). Returns a SIO_FEED_* status like feed; call again after
 * NEED_BLOCK. An incomplete frame stays pending. SIO-1 has nothing to do. */
int sio_parser_flush(sio_parser *p);
/* Bytes held in a partial frame, not yet accounted in any counter. */
size_t sio_parser_pending_bytes(const sio_parser *p);
/* Host read times, for a frame counter that counts frames without a device
 * clock (a Cyton's, 8 bits: 1.024 s at 250 Hz): period_ns is one counter
 * step (0: off, the default). Before feeding the bytes of each port read,
 * call sio_parser_read_time with the read's host time (ns, above 0; others
 * are ignored). A gap across which more host time may have passed than the
 * counter can tell apart, (gap + 1 + modulus) steps less a margin, is then
 * booked as "at least" (SIO_EVF_AT_LEAST): whole turns of the counter may
 * be hidden in it. An unbroken count is never judged (a late read of
 * buffered frames, nothing lost, would look the same as a gap of exactly a
 * turn). Without read times the counter's count is taken as it is. */
void sio_parser_set_counter_period(sio_parser *p, uint64_t period_ns);
void sio_parser_read_time(sio_parser *p, int64_t t_ns);

/* Stream slots: which slot needs a block after SIO_FEED_NEED_BLOCK, the
 * device stream id of a slot (-1 if unused), and the slot's output block. */
int sio_parser_need_slot(const sio_parser *p);
int sio_parser_slot_stream(const sio_parser *p, int slot);
sio_block *sio_parser_block(sio_parser *p, int slot);
/* Rows accepted on this slot before its current block. */
uint64_t sio_parser_slot_rows_before(const sio_parser *p, int slot);
/* Rows and frames needed for the frame waiting after NEED_BLOCK. */
size_t sio_parser_need_rows(const sio_parser *p);
uint32_t sio_parser_need_channels(const sio_parser *p);
/* Marks the slot's block as handed over: counts reset, buffers kept. */
void sio_parser_block_reset(sio_parser *p, int slot);
/* The same, keeping what the block holds: its buffers continue after it
 * (pointers past its rows, frames and events; capacities less them), so
 * the caller may hand out the held part without copying it. Returns 0, or
 * -1 without changing anything when slot is out of range or the block's
 * counts do not fit its capacities (or count rows in a missing buffer). */
int sio_parser_block_advance(sio_parser *p, int slot);

/* Messages (SIO-1 INFO/REPLY/LOG, Cyton text...) are appended to a caller
 * buffer as records: u8 type, u16 length (little-endian), payload. */
void sio_parser_set_msg_buffer(sio_parser *p, uint8_t *buf, size_t cap);
size_t sio_parser_msg_len(const sio_parser *p);
/* Where the parser keeps that length: a caller that looks after every feed
 * reads it there, without a call. */
const size_t *sio_parser_msg_len_ref(const sio_parser *p);
void sio_parser_msg_reset(sio_parser *p);
/* CFFI_END */

/* ---- for format implementations ---- */

/* What a format knows about one valid frame. */
typedef struct {
    uint32_t stream_id;    /* 0..255 */
    uint32_t n_ch;         /* 1..SIO_MAX_CHANNELS_ANY */
    uint32_t n_samp;       /* rows in the frame */
    uint32_t enc;          /* format's encoding tag, kept per block */
    uint32_t seq;
    uint32_t seq_modulus;  /* counter wraps here; 0 = the format has no counter */
    uint64_t time;
    uint64_t time_modulus; /* time is a device clock that wraps here (a power of
                              two); 0 = not a clock */
    uint64_t leadoff;
    uint32_t time_from_counter; /* 1: the parser books as time the stream's
                                   counter unwrapped to 64 bits, counting the
                                   frames it reports lost (time is ignored) */
    uint32_t wire_max;     /* most bytes a frame of this stream takes on the
                              wire; 0 = unknown */
    uint32_t in_every_frame; /* every frame on the wire carries this stream */
    uint32_t rides_along;    /* another stream of the same wire frame stands for
                                it in frames_ok, lost_frames and restarts (a
                                Cyton's accelerometer): a wire frame counts once */
    uint32_t restarts_on_command; /* the counter starts over only when the host
                                     restarts the stream (across a discontinuity:
                                     a Cyton's, at 'b'): a jump backwards on an
                                     unbroken stream, with the host read time
                                     for the frames in between, is frames lost,
                                     not a restart (sio_parser_read_time) */
} sio_frame_meta;

#define SIO_MAX_CHANNELS_ANY 256

/* Books a valid frame: counter gap/restart events, frame metadata, counters.
 * Returns where to write its n_samp * n_ch codes, or NULL when the stream
 * needs a fresh block (then nothing was booked and feeding must stop with
 * SIO_FEED_NEED_BLOCK; call again with the same frame later). The time it
 * booked is then in p->booked_time. Fields of m a format does not know are 0. */
int32_t *sio_emit_frame(sio_parser *p, const sio_frame_meta *m);
/* Appends a message record; 0 if stored (or dropped as too long), -1 if the
 * buffer must be drained first. */
int sio_emit_message(sio_parser *p, uint8_t type, const uint8_t *payload, size_t len);

#include "sio_formats.h"

/* The frame period of a stream's device clock, learnt from a run of
 * consecutive frames whose clock steps stay within slack of the first. */
typedef struct {
    uint64_t sum;               /* clock ticks over the run */
    uint32_t pairs;             /* consecutive frame pairs in it */
    uint32_t n_samp;            /* rows per frame over the run */
    uint64_t first;             /* the run's first step */
    uint64_t jitter;            /* largest step - first, either way */
} sio_clock_run;

typedef struct {
    int32_t stream_id;          /* -1 = free */
    int have_seq;
    uint32_t last_seq;
    uint32_t last_n_samp;
    uint32_t wire_max;          /* largest wire_max of the stream's frames */
    uint64_t last_time;         /* time of the last frame */
    uint64_t counter;           /* unwrapped counter (time_from_counter) */
    sio_clock_run run;          /* the current run */
    sio_clock_run learnt;       /* the last run long enough to trust */
    uint64_t rows_before;       /* rows in blocks already handed over */
    uint64_t pending_lost_bytes;
    uint32_t pending_event;     /* SIO_EV_OVERFLOW / SIO_EV_RESYNC to book at the next frame */
    int64_t last_after_ns;      /* the last frame's bytes arrived after this host time (0: unknown) */
    sio_block block;
} sio_slot;

struct sio_parser {
    int format;
    sio_stats stats;
    int need_slot;
    size_t need_rows;
    uint32_t need_ch;
    uint8_t slot_of[256];       /* stream id -> slot + 1, 0 = none */
    sio_slot slots[SIO_MAX_STREAMS];
    uint8_t *msg_buf;
    size_t msg_cap;
    size_t msg_len;
    uint64_t booked_time;       /* time booked for the last frame emitted */
    uint64_t counter_period_ns; /* one counter step in host ns (sio_parser_set_counter_period) */
    int64_t read_ns;            /* host time of the read being parsed (0: unknown) */
    int64_t read_before_ns;     /* ... and of the read before it */
    union {
        sio_fmt_sio1 sio1;
        SIO_FORMAT_STATES
    } fmt;
};

#endif
