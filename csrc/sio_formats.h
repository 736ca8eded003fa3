/* sio_formats.h - wire formats that feed the generic parser (sio_parser.h).
 * Each format keeps its framing state here and implements feed/reset. */
#ifndef SIO_FORMATS_H
#define SIO_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "sio1.h"
#include "sio_framer.h"

struct sio_parser;

/* Channels an ASCII line may carry (== SIO_MAX_CHANNELS_ANY in sio_parser.h). */
#define SIO_ASCII_MAX_CH 256

/* CFFI_BEGIN */
enum {
    SIO_FMT_SIO1 = 1,
    SIO_FMT_CYTON = 2,
    SIO_FMT_ASCII = 3,
    SIO_FMT_SPEC = 4
};

/* sio_block.enc tags of the formats below. SIO-1 blocks carry SIO1_ENC_*;
 * integer codes of other formats are tagged with the SIO1_ENC_* of their
 * wire width where one exists. SIO_ENC_F32 means the int32 slots hold the bit
 * patterns of float32 values: the Python side views them as float32. */
enum {
    SIO_ENC_INT = 3,    /* plain int32 codes (== SIO1_ENC_I32) */
    SIO_ENC_F32 = 32
};

/* ---- OpenBCI Cyton ---- */
enum {
    SIO_CYTON_PACKET = 33,
    SIO_CYTON_START = 0xA0,
    SIO_CYTON_STREAM_EEG = 0,
    SIO_CYTON_STREAM_ACCEL = 1
};

/* ---- ASCII lines ---- */
enum {
    SIO_ASCII_MAX_LINE = 4096
};
/* n_ch 0 = learn the channel count from the first two lines that agree.
 * max_line: longest line accepted (terminator excluded), <= SIO_ASCII_MAX_LINE.
 * Call after sio_parser_init(p, SIO_FMT_ASCII). Returns 0, or -1 if invalid. */
int sio_fmt_ascii_configure(struct sio_parser *p, uint32_t n_ch, uint32_t max_line);

/* ---- declarative binary formats ----
 * A frame: sync bytes at offset 0, a fixed size or a length field, optional
 * counter, timestamp, trailer and checksum, and one or more streams whose
 * rows are read from fixed offsets. Offsets below 0 count from the frame's
 * end (-1 = last byte), so one descriptor serves variable-length frames.
 * sensorio/formats/spec.py compiles a TOML spec into this struct. */
enum {
    SIO_SPEC_MAX_SYNC = 8,
    SIO_SPEC_MAX_TRAILER = 8,
    SIO_SPEC_MAX_FRAME = 2048,
    SIO_SPEC_MAX_STREAMS = 4,
    SIO_SPEC_MAX_CH = 64
};

/* Field types: width in the low 3 bits, then flags. */
enum {
    SIO_FT_SIGNED = 0x10,
    SIO_FT_BE = 0x20,
    SIO_FT_FLOAT = 0x40,
    SIO_FT_U8 = 1,
    SIO_FT_I8 = 1 | 0x10,
    SIO_FT_U16 = 2,
    SIO_FT_I16 = 2 | 0x10,
    SIO_FT_U24 = 3,
    SIO_FT_I24 = 3 | 0x10,
    SIO_FT_U32 = 4,
    SIO_FT_I32 = 4 | 0x10,
    SIO_FT_F32 = 4 | 0x40
};

enum {
    SIO_CK_NONE = 0,
    SIO_CK_XOR8 = 1,
    SIO_CK_SUM8 = 2,
    SIO_CK_CRC8 = 3,
    SIO_CK_CRC16_CCITT = 4,
    SIO_CK_CRC16_MODBUS = 5,
    SIO_CK_CRC32 = 6
};

typedef struct {
    uint32_t id;            /* device stream id in Blocks */
    uint32_t n_ch;          /* 1..SIO_SPEC_MAX_CH */
    int32_t data_offset;    /* first row; >= 0 */
    uint32_t stride;        /* bytes from one row to the next */
    uint32_t n_rows;        /* rows per frame; 0 = as many as fit before data_end */
    int32_t data_end;       /* with n_rows 0: rows end here (<= 0: from the end) */
    int32_t cond_offset;    /* frame byte that must equal cond_value; INT32_MIN = always */
    uint8_t cond_value;
    uint8_t skip_if_zero;   /* no rows when every channel byte of the frame is 0 */
    uint8_t is_float;       /* all channels f32: block enc SIO_ENC_F32 */
    uint8_t enc;            /* block enc tag for integer streams */
    uint8_t packed_type;    /* set by sio_fmt_spec_configure: the one type of
                               channels packed from row offset 0, else 0 */
    uint8_t types[SIO_SPEC_MAX_CH];
    uint16_t offsets[SIO_SPEC_MAX_CH];  /* within a row */
} sio_spec_stream;

typedef struct {
    uint8_t sync[SIO_SPEC_MAX_SYNC];
    uint32_t sync_len;              /* 1..SIO_SPEC_MAX_SYNC */
    uint32_t fixed_size;            /* frame bytes; 0 = a length field gives it */
    uint32_t len_offset;
    uint8_t len_type;
    int32_t len_adjust;             /* frame bytes = field value + len_adjust */
    uint32_t min_size, max_size;    /* bounds of a length-field frame */
    uint8_t trailer[SIO_SPEC_MAX_TRAILER];
    uint32_t trailer_len;           /* bytes that end every frame */
    uint8_t end_set[32];            /* bit v: the last byte may be v */
    uint32_t use_end_set;
    int32_t seq_offset;             /* INT32_MIN = no counter */
    uint8_t seq_type;
    uint32_t seq_modulus;           /* 0 = 2^(8 * width) */
    int32_t time_offset;            /* INT32_MIN = no timestamp */
    uint8_t time_type;
    uint32_t ck_kind;               /* SIO_CK_* */
    int32_t ck_start, ck_end;       /* covered bytes [start, end) */
    int32_t ck_offset;              /* where the checksum is stored */
    uint32_t ck_big_endian;
    uint32_t confirm;               /* lock on two consecutive frames, not one */
    uint32_t n_streams;
    sio_spec_stream streams[SIO_SPEC_MAX_STREAMS];
} sio_spec;

/* Checks d for consistency (the Python compiler checks first and names the
 * field; this guards the C side). Returns 0, or -1 if invalid. */
int sio_spec_check(const sio_spec *d);
/* Call after sio_parser_init(p, SIO_FMT_SPEC): copies d into the parser. */
int sio_fmt_spec_configure(struct sio_parser *p, const sio_spec *d);
/* CFFI_END */

/* SIO-1: COBS frames delimited by 0x00. */
typedef struct {
    uint8_t enc[SIO1_MAX_ENCODED];  /* a frame straddling feed calls */
    size_t enc_len;
    int oversized;                  /* discarding until the next delimiter */
    int fresh;                      /* the current segment may have started mid-frame */
    size_t pending;                 /* length of a valid frame in frame[] not yet emitted */
    size_t pending_wire;            /* its bytes on the wire, delimiter included */
    uint8_t frame[SIO1_MAX_FRAME];
} sio_fmt_sio1;

void sio_fmt_sio1_reset(sio_fmt_sio1 *s);
int sio_fmt_sio1_feed(struct sio_parser *p, const uint8_t *data, size_t len, size_t *consumed);
size_t sio_fmt_sio1_pending_bytes(const sio_fmt_sio1 *s);

/* OpenBCI Cyton: 33-byte packets A0 .. C0-C6. */
typedef struct {
    uint64_t counter;               /* sample number unwrapped to 64 bits, of the last packet */
    uint8_t last_stop;              /* stop byte of the last trusted packet (0: none yet) */
    sio_framer framer;
} sio_fmt_cyton;

void sio_fmt_cyton_reset(sio_fmt_cyton *s);
int sio_fmt_cyton_feed(struct sio_parser *p, const uint8_t *data, size_t len, size_t *consumed);
size_t sio_fmt_cyton_pending_bytes(const sio_fmt_cyton *s);
void sio_fmt_cyton_discontinuity(struct sio_parser *p);
int sio_fmt_cyton_flush(struct sio_parser *p);

/* ASCII lines of numbers or label:value pairs. */
typedef struct {
    uint32_t n_ch;                  /* fixed or learnt channel count, 0 = not yet */
    uint32_t given_ch;              /* configured count, 0 = learn */
    uint32_t max_line;
    int skip_line;                  /* discard up to the next terminator (resync) */
    int oversized;                  /* discarding an over-long line */
    size_t line_len;
    uint64_t lines;                 /* accepted lines: frame seq and time */
    /* a learning-phase line waiting for a second line that agrees with it */
    int held;
    uint32_t held_ch;
    size_t held_wire;
    int held_resync;                /* dropped as resync (not malformed) if no match */
    int32_t held_vals[SIO_ASCII_MAX_CH];
    /* a parsed line that could not be booked yet */
    int pending;
    size_t pending_wire;
    int32_t vals[SIO_ASCII_MAX_CH];
    char line[SIO_ASCII_MAX_LINE];
} sio_fmt_ascii;

void sio_fmt_ascii_reset(sio_fmt_ascii *s);
int sio_fmt_ascii_feed(struct sio_parser *p, const uint8_t *data, size_t len, size_t *consumed);
size_t sio_fmt_ascii_pending_bytes(const sio_fmt_ascii *s);
void sio_fmt_ascii_discontinuity(struct sio_parser *p);
int sio_fmt_ascii_flush(struct sio_parser *p);

/* Declarative binary formats. */
typedef struct {
    sio_spec d;
    int configured;
    int have_seq;
    uint32_t last_seq;
    uint64_t counter;               /* counter unwrapped, or frame index */
    uint32_t cur_seq;               /* of the frame being booked */
    uint64_t cur_time;
    sio_framer framer;
} sio_fmt_spec;

_Static_assert((int)SIO_SPEC_MAX_FRAME <= (int)SIO_FRAMER_MAX_FRAME &&
                   (int)SIO_SPEC_MAX_SYNC <= (int)SIO_FRAMER_MAX_SYNC &&
                   2 * SIO_SPEC_MAX_FRAME + SIO_SPEC_MAX_SYNC <= (int)SIO_FRAMER_MAX_CARRY,
               "the framer holds every frame and carry of these formats");

void sio_fmt_spec_reset(sio_fmt_spec *s);
int sio_fmt_spec_feed(struct sio_parser *p, const uint8_t *data, size_t len, size_t *consumed);
size_t sio_fmt_spec_pending_bytes(const sio_fmt_spec *s);
void sio_fmt_spec_discontinuity(struct sio_parser *p);
int sio_fmt_spec_flush(struct sio_parser *p);

/* Other formats add their state to this list, and a case to the dispatch in
 * sio_parser.c. */
#define SIO_FORMAT_STATES \
    sio_fmt_cyton cyton;  \
    sio_fmt_ascii ascii;  \
    sio_fmt_spec spec;

#endif
