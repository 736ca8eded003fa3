/* sio_cobs.h - Consistent Overhead Byte Stuffing (Cheshire & Baker 1999).
 * Encoded data never contains 0x00, so 0x00 can delimit frames. */
#ifndef SIO_COBS_H
#define SIO_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case encoded size of len bytes, without the 0x00 delimiter. */
#define SIO_COBS_MAX_ENCODED(len) ((len) + (len) / 254 + 1)

/* CFFI_BEGIN */
/* Encodes src[0..len) into dst (no delimiter appended). Returns the encoded
 * length, or 0 if dst_cap is too small (an encoding is never empty). */
size_t sio_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap);
/* Decodes src[0..len) (no delimiter) into dst. Returns the decoded length, or
 * -1 if the input is not valid COBS (a 0x00 inside, or a code byte pointing
 * past the end), -2 if dst_cap is too small. dst may equal src; otherwise the buffers must
 * not overlap. */
long sio_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap);
/* CFFI_END */

/* sio_cobs_decode for input already known to hold no 0x00 (a segment found
 * between delimiters): skips the scan for zeros. */
long sio_cobs_decode_nz(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap);

#define SIO_COBS_ERR_INVALID (-1)
#define SIO_COBS_ERR_SPACE (-2)

#endif
