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

/* The general decoder: any codes, any overlap of dst == src. */
static long cobs_decode_runs(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    size_t in = 0, out = 0;
    while (in < len) {
        uint8_t code = src[in];
        size_t run = (size_t)code - 1;
        if (code == 0 || run > len - in - 1)
            return SIO_COBS_ERR_INVALID;
        if (run > dst_cap - out)
            return SIO_COBS_ERR_SPACE;
        /* forward copy: decoding in place, the output never overtakes the input */
        for (size_t k = 0; k < run; k++)
            dst[out + k] = src[in + 1 + k];
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

long sio_cobs_decode_nz(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    /* Fast path for frames without 0xFF codes (every frame shorter than 254
     * bytes, and most others): each code byte at encoded position p becomes
     * the zero at decoded position p - 1, so decoding is one block copy and a
     * walk along the chain of codes, whatever the run lengths. */
    if (len == 0 || len - 1 > dst_cap || src == dst || src[0] == 0xFF)
        return cobs_decode_runs(src, len, dst, dst_cap);
    if (src[0] == 0)
        return SIO_COBS_ERR_INVALID;
    memcpy(dst, src + 1, len - 1);
    size_t p = src[0];
    while (p < len) {
        uint8_t code = src[p];
        if (code == 0)
            return SIO_COBS_ERR_INVALID;
        if (code == 0xFF)
            return cobs_decode_runs(src, len, dst, dst_cap);
        dst[p - 1] = 0;
        p += code;
    }
    return p == len ? (long)(len - 1) : SIO_COBS_ERR_INVALID;
}

long sio_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
    if (memchr(src, 0, len))
        return SIO_COBS_ERR_INVALID;
    return sio_cobs_decode_nz(src, len, dst, dst_cap);
}
