/* sio_crc.c - CRC-16/CCITT-FALSE, and the checksums of declarative formats.
 *
 * The host build uses slicing-by-8 tables (4 KB) because the CRC is the
 * largest per-byte cost of SIO-1 parsing; 8-bit firmware defines
 * SIO_CRC_SMALL and gets the bitwise loop, which needs no RAM or flash table.
 */
#include "sio_crc.h"

#ifdef SIO_CRC_SMALL

uint16_t sio_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len)
{
    while (len--) {
        crc ^= (uint16_t)((uint16_t)*data++ << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

#else

/* Generated at compile time would need C++ constexpr; a lazily filled table
 * would need a once-flag across threads. A static initialiser computed by a
 * macro keeps it const and thread-safe. */
#define SIO_CRC_B(c) (((c) & 0x8000u) ? (uint16_t)(((c) << 1) ^ 0x1021u) : (uint16_t)((c) << 1))
#define SIO_CRC_T(v) SIO_CRC_B(SIO_CRC_B(SIO_CRC_B(SIO_CRC_B(SIO_CRC_B(SIO_CRC_B(SIO_CRC_B(SIO_CRC_B((uint16_t)((v) << 8)))))))))
#define SIO_CRC_R4(v) SIO_CRC_T(v), SIO_CRC_T((v) + 1), SIO_CRC_T((v) + 2), SIO_CRC_T((v) + 3)
#define SIO_CRC_R16(v) SIO_CRC_R4(v), SIO_CRC_R4((v) + 4), SIO_CRC_R4((v) + 8), SIO_CRC_R4((v) + 12)
#define SIO_CRC_R64(v) SIO_CRC_R16(v), SIO_CRC_R16((v) + 16), SIO_CRC_R16((v) + 32), SIO_CRC_R16((v) + 48)

static const uint16_t crc_t0[256] = {
    SIO_CRC_R64(0), SIO_CRC_R64(64), SIO_CRC_R64(128), SIO_CRC_R64(192)
};

/* crc_tk[k][b]: the CRC register after byte b followed by k + 1 zero bytes,
 * so that eight bytes can be folded in with eight independent lookups. */
static uint16_t crc_tk[7][256];
static int crc_tk_ready;

static void crc_tables_fill(void)
{
    for (int b = 0; b < 256; b++) {
        uint16_t c = crc_t0[b];
        for (int k = 0; k < 7; k++) {
            c = (uint16_t)((c << 8) ^ crc_t0[c >> 8]);
            crc_tk[k][b] = c;
        }
    }
    crc_tk_ready = 1; /* idempotent: racing threads write identical values */
}

uint16_t sio_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len)
{
    if (!crc_tk_ready)
        crc_tables_fill();
    while (len >= 8) {
        uint16_t hi = (uint16_t)(crc ^ (uint16_t)((data[0] << 8) | data[1]));
        crc = (uint16_t)(crc_tk[6][hi >> 8] ^ crc_tk[5][hi & 0xFF] ^ crc_tk[4][data[2]] ^
                         crc_tk[3][data[3]] ^ crc_tk[2][data[4]] ^ crc_tk[1][data[5]] ^
                         crc_tk[0][data[6]] ^ crc_t0[data[7]]);
        data += 8;
        len -= 8;
    }
    while (len--)
        crc = (uint16_t)((crc << 8) ^ crc_t0[(uint8_t)((crc >> 8) ^ *data++)]);
    return crc;
}

#endif

/* ---- checksums of declarative board formats ---- */

uint8_t sio_xor8(const uint8_t *data, size_t len)
{
    uint8_t x = 0;
    while (len--)
        x ^= *data++;
    return x;
}

uint8_t sio_sum8(const uint8_t *data, size_t len)
{
    unsigned s = 0;
    while (len--)
        s += *data++;
    return (uint8_t)s;
}

#ifdef SIO_CRC_SMALL

uint8_t sio_crc8(const uint8_t *data, size_t len)
{
    uint8_t crc = 0;
    while (len--) {
        crc ^= *data++;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x80u) ? (uint8_t)((crc << 1) ^ 0x07u) : (uint8_t)(crc << 1);
    }
    return crc;
}

uint16_t sio_crc16_modbus(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    while (len--) {
        crc ^= *data++;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1u) ? (uint16_t)((crc >> 1) ^ 0xA001u) : (uint16_t)(crc >> 1);
    }
    return crc;
}

uint32_t sio_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    while (len--) {
        crc ^= *data++;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1u) ? ((crc >> 1) ^ 0xEDB88320u) : (crc >> 1);
    }
    return crc ^ 0xFFFFFFFFu;
}

#else

/* Byte-wise tables from the same macro technique as the CRC-16 table above:
 * const, computed by the compiler, no initialisation race. */
#define CRC8_B(c) (((c) & 0x80u) ? (uint8_t)(((c) << 1) ^ 0x07u) : (uint8_t)((c) << 1))
#define CRC8_T(v) CRC8_B(CRC8_B(CRC8_B(CRC8_B(CRC8_B(CRC8_B(CRC8_B(CRC8_B((uint8_t)(v)))))))))
#define CRCM_B(c) (((c) & 1u) ? (uint16_t)(((c) >> 1) ^ 0xA001u) : (uint16_t)((c) >> 1))
#define CRCM_T(v) CRCM_B(CRCM_B(CRCM_B(CRCM_B(CRCM_B(CRCM_B(CRCM_B(CRCM_B((uint16_t)(v)))))))))
#define CRC32_B(c) (((c) & 1u) ? (((c) >> 1) ^ 0xEDB88320u) : ((c) >> 1))
#define CRC32_T(v) CRC32_B(CRC32_B(CRC32_B(CRC32_B(CRC32_B(CRC32_B(CRC32_B(CRC32_B((uint32_t)(v)))))))))
#define CRC_R4(T, v) T(v), T((v) + 1), T((v) + 2), T((v) + 3)
#define CRC_R16(T, v) CRC_R4(T, v), CRC_R4(T, (v) + 4), CRC_R4(T, (v) + 8), CRC_R4(T, (v) + 12)
#define CRC_R64(T, v) CRC_R16(T, v), CRC_R16(T, (v) + 16), CRC_R16(T, (v) + 32), CRC_R16(T, (v) + 48)
#define CRC_R256(T) CRC_R64(T, 0), CRC_R64(T, 64), CRC_R64(T, 128), CRC_R64(T, 192)

static const uint8_t crc8_t[256] = { CRC_R256(CRC8_T) };
static const uint16_t crcm_t[256] = { CRC_R256(CRCM_T) };
static const uint32_t crc32_t[256] = { CRC_R256(CRC32_T) };

uint8_t sio_crc8(const uint8_t *data, size_t len)
{
    uint8_t crc = 0;
    while (len--)
        crc = crc8_t[crc ^ *data++];
    return crc;
}

uint16_t sio_crc16_modbus(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    while (len--)
        crc = (uint16_t)((crc >> 8) ^ crcm_t[(crc ^ *data++) & 0xFFu]);
    return crc;
}

uint32_t sio_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    while (len--)
        crc = (crc >> 8) ^ crc32_t[(crc ^ *data++) & 0xFFu];
    return crc ^ 0xFFFFFFFFu;
}

#endif
