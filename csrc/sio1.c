/* sio1.c - SIO-1 frame checking, sample unpacking and frame building. */
#include "sio1.h"

#include <string.h>

int sio1_enc_width(int enc)
{
    switch (enc) {
    case SIO1_ENC_I16:
    case SIO1_ENC_U16:
        return 2;
    case SIO1_ENC_I24:
        return 3;
    case SIO1_ENC_I32:
        return 4;
    default:
        return 0;
    }
}

size_t sio1_data_frame_len(int enc, int n_ch, int n_samp)
{
    int width = sio1_enc_width(enc);
    if (!width || n_ch < 1 || n_ch > SIO1_MAX_CHANNELS || n_samp < 1 || n_samp > 255)
        return 0;
    size_t len = SIO1_DATA_HEADER + (size_t)(n_ch + 7) / 8 + (size_t)n_samp * (size_t)n_ch * (size_t)width + 2;
    return len <= SIO1_MAX_FRAME ? len : 0;
}

int sio1_check_frame(const uint8_t *frame, size_t len, sio1_data *data)
{
    if (len < 3)
        return SIO1_ERR_MALFORMED;
    uint16_t crc = (uint16_t)(frame[len - 2] | (frame[len - 1] << 8));
    if (sio_crc16_ccitt(SIO_CRC16_CCITT_INIT, frame, len - 2) != crc)
        return SIO1_ERR_CRC;
    switch (frame[0]) {
    case SIO1_TYPE_DATA:
        break;
    case SIO1_TYPE_INFO:
    case SIO1_TYPE_REPLY:
    case SIO1_TYPE_LOG:
        return SIO1_OK;
    default:
        return SIO1_ERR_UNKNOWN_TYPE;
    }
    if (len < SIO1_DATA_HEADER + 2)
        return SIO1_ERR_MALFORMED;
    int enc = frame[2], n_ch = frame[3], n_samp = frame[4];
    if (sio1_data_frame_len(enc, n_ch, n_samp) != len)
        return SIO1_ERR_MALFORMED;
    if (data) {
        data->stream = frame[1];
        data->enc = (uint8_t)enc;
        data->n_ch = (uint8_t)n_ch;
        data->n_samp = (uint8_t)n_samp;
        data->seq = (uint16_t)(frame[5] | (frame[6] << 8));
        data->t_us = (uint32_t)frame[7] | ((uint32_t)frame[8] << 8) | ((uint32_t)frame[9] << 16) | ((uint32_t)frame[10] << 24);
        size_t mask_len = (size_t)(n_ch + 7) / 8;
        uint64_t mask = 0;
        for (size_t i = 0; i < mask_len; i++)
            mask |= (uint64_t)frame[SIO1_DATA_HEADER + i] << (8 * i);
        data->leadoff = mask;
        data->samples = frame + SIO1_DATA_HEADER + mask_len;
    }
    return SIO1_OK;
}

void sio1_unpack(int enc, const uint8_t *src, size_t n, int32_t *dst)
{
    size_t i;
    switch (enc) {
    case SIO1_ENC_I16:
        /* index form (not pointer bumping) lets compilers vectorise these */
        for (i = 0; i < n; i++)
            dst[i] = (int16_t)(uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        break;
    case SIO1_ENC_U16:
        for (i = 0; i < n; i++)
            dst[i] = (int32_t)(uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        break;
    case SIO1_ENC_I24:
        for (i = 0; i < n; i++, src += 3) {
            uint32_t u = (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16);
            dst[i] = (int32_t)(u ^ 0x800000u) - 0x800000; /* sign-extend without UB */
        }
        break;
    case SIO1_ENC_I32:
        for (i = 0; i < n; i++, src += 4) {
            uint32_t u = (uint32_t)src[0] | ((uint32_t)src[1] << 8) | ((uint32_t)src[2] << 16) | ((uint32_t)src[3] << 24);
            /* two's complement without relying on implementation-defined casts */
            dst[i] = u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
        }
        break;
    default:
        break;
    }
}

size_t sio1_finish_frame(uint8_t *frame, size_t len, uint8_t *out, size_t out_cap)
{
    if (len < 3 || len > SIO1_MAX_FRAME || out_cap < SIO1_WIRE_MAX(len))
        return 0;
    uint16_t crc = sio_crc16_ccitt(SIO_CRC16_CCITT_INIT, frame, len - 2);
    frame[len - 2] = (uint8_t)(crc & 0xFF);
    frame[len - 1] = (uint8_t)(crc >> 8);
    size_t n = sio_cobs_encode(frame, len, out, out_cap - 1);
    if (!n)
        return 0;
    out[n] = 0;
    return n + 1;
}

size_t sio1_encode_frame(uint8_t type, const uint8_t *body, size_t body_len,
                         uint8_t *scratch, size_t scratch_cap,
                         uint8_t *out, size_t out_cap)
{
    size_t len = 1 + body_len + 2;
    if (len > SIO1_MAX_FRAME || scratch_cap < len || out_cap < SIO1_WIRE_MAX(len))
        return 0;
    scratch[0] = type;
    if (body_len)
        memcpy(scratch + 1, body, body_len);
    return sio1_finish_frame(scratch, len, out, out_cap);
}

size_t sio1_encode_data(uint8_t stream, uint8_t enc, uint8_t n_ch, uint8_t n_samp,
                        uint16_t seq, uint32_t t_us, uint64_t leadoff,
                        const int32_t *samples, uint8_t *scratch, size_t scratch_cap,
                        uint8_t *out, size_t out_cap)
{
    size_t len = sio1_data_frame_len(enc, n_ch, n_samp);
    if (!len || scratch_cap < len || out_cap < SIO1_WIRE_MAX(len))
        return 0;
    int width = sio1_enc_width(enc);
    uint8_t *p = scratch;
    *p++ = SIO1_TYPE_DATA;
    *p++ = stream;
    *p++ = enc;
    *p++ = n_ch;
    *p++ = n_samp;
    *p++ = (uint8_t)(seq & 0xFF);
    *p++ = (uint8_t)(seq >> 8);
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(t_us >> (8 * i));
    for (int i = 0; i < (n_ch + 7) / 8; i++)
        *p++ = (uint8_t)(leadoff >> (8 * i));
    size_t n = (size_t)n_ch * n_samp;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)samples[i];
        for (int b = 0; b < width; b++)
            *p++ = (uint8_t)(v >> (8 * b));
    }
    (void)p;
    return sio1_finish_frame(scratch, len, out, out_cap);
}
