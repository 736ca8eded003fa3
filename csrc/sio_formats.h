/* sio_formats.h - wire formats that feed the generic parser (sio_parser.h).
 * Each format keeps its framing state here and implements feed/reset. */
#ifndef SIO_FORMATS_H
#define SIO_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "sio1.h"

/* CFFI_BEGIN */
enum {
    SIO_FMT_SIO1 = 1
};
/* CFFI_END */

struct sio_parser;

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

/* Other formats add their state to this list, and a case to the dispatch in
 * sio_parser.c. */
#define SIO_FORMAT_STATES

#endif
