/* sio_cobs.c - COBS encoder and decoder, bounded by the caller's buffers. */
#include "sio_cobs.h"

#include <string.h>

size_t sio_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    if (dst_cap < SIO_COBS_MAX_ENCODED(len))
        return 0;
    size_t code_pos = 0, out = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_pos] = code;
            code_pos = out++;
            code = 1;
        } else {
            dst[out++] = src[i];
            if (++code == 0xFF) {
                dst[code_pos] = code;
                code_pos = out++;
                code = 1;
            }
        }
    }
    dst[code_pos] = code;
    return out;
}

long sio_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    size_t in = 0, out = 0;
    while (in < len) {
        uint8_t code = src[in];
        if (code == 0)
            return SIO_COBS_ERR_INVALID;
        size_t run = (size_t)code - 1;
        if (run > len - in - 1)
            return SIO_COBS_ERR_INVALID;
        if (run > dst_cap - out)
            return SIO_COBS_ERR_SPACE;
        /* memmove: decoding in place moves data towards the start. */
        memmove(dst + out, src + in + 1, run);
        if (memchr(dst + out, 0, run))
            return SIO_COBS_ERR_INVALID;
        out += run;
        in += 1 + run;
        /* A code of 0xFF carries no implied zero; neither does the last group. */
        if (code != 0xFF && in < len) {
            if (out >= dst_cap)
                return SIO_COBS_ERR_SPACE;
            dst[out++] = 0;
        }
    }
    return (long)out;
}
