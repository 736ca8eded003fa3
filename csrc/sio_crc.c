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

/* Every host table is filled once at first use. Computing them in the
 * preprocessor made the compiler (and especially the sanitizer builds) crawl;
 * filling them takes microseconds. Racing first callers write identical
 * values, and the flag is published with release/acquire ordering so no
 * thread can see it before the tables. */
#include "sio_atomic.h"

static uint16_t crc_t0[256];
/* crc_tk[k][b]: the CRC register after byte b followed by k + 1 zero bytes,
 * so that eight bytes can be folded in with eight independent lookups. */
static uint16_t crc_tk[7][256];
/* reflected CRCs (MODBUS, CRC-32) and CRC-8, slicing-by-4 for the first two */
static uint16_t crcm_t[4][256];
static uint32_t crc32_t[4][256];
static uint8_t crc8_t[256];
static sio_atomic_size crc_tables_ready;

static void crc_tables_fill(void)
{
    for (int b = 0; b < 256; b++) {
        uint16_t c = (uint16_t)(b << 8);
        for (int bit = 0; bit < 8; bit++)
            c = (c & 0x8000u) ? (uint16_t)((c << 1) ^ 0x1021u) : (uint16_t)(c << 1);
        crc_t0[b] = c;
        uint16_t m = (uint16_t)b;
        for (int bit = 0; bit < 8; bit++)
            m = (m & 1u) ? (uint16_t)((m >> 1) ^ 0xA001u) : (uint16_t)(m >> 1);
        crcm_t[0][b] = m;
        uint32_t w = (uint32_t)b;
        for (int bit = 0; bit < 8; bit++)
            w = (w & 1u) ? ((w >> 1) ^ 0xEDB88320u) : (w >> 1);
        crc32_t[0][b] = w;
        uint8_t e = (uint8_t)b;
        for (int bit = 0; bit < 8; bit++)
            e = (e & 0x80u) ? (uint8_t)((e << 1) ^ 0x07u) : (uint8_t)(e << 1);
        crc8_t[b] = e;
    }
    for (int b = 0; b < 256; b++) {
        uint16_t c = crc_t0[b];
        for (int k = 0; k < 7; k++) {
            c = (uint16_t)((c << 8) ^ crc_t0[c >> 8]);
            crc_tk[k][b] = c;
        }
        for (int k = 1; k < 4; k++) {
            crcm_t[k][b] = (uint16_t)((crcm_t[k - 1][b] >> 8) ^ crcm_t[0][crcm_t[k - 1][b] & 0xFFu]);
            crc32_t[k][b] = (crc32_t[k - 1][b] >> 8) ^ crc32_t[0][crc32_t[k - 1][b] & 0xFFu];
        }
    }
    sio_store_release(&crc_tables_ready, 1);
}

static void crc_tables_need(void)
{
    if (!sio_load_acquire(&crc_tables_ready))
        crc_tables_fill();
}

uint16_t sio_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len)
{
    crc_tables_need();
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

uint8_t sio_crc8(const uint8_t *data, size_t len)
{
    crc_tables_need();
    uint8_t crc = 0;
    while (len--)
        crc = crc8_t[crc ^ *data++];
    return crc;
}

uint16_t sio_crc16_modbus(const uint8_t *data, size_t len)
{
    crc_tables_need();
    uint16_t crc = 0xFFFFu;
    while (len >= 4) {
        crc ^= (uint16_t)(data[0] | (data[1] << 8));
        crc = (uint16_t)(crcm_t[3][crc & 0xFFu] ^ crcm_t[2][crc >> 8] ^ crcm_t[1][data[2]] ^ crcm_t[0][data[3]]);
        data += 4;
        len -= 4;
    }
    while (len--)
        crc = (uint16_t)((crc >> 8) ^ crcm_t[0][(crc ^ *data++) & 0xFFu]);
    return crc;
}

uint32_t sio_crc32(const uint8_t *data, size_t len)
{
    crc_tables_need();
    uint32_t crc = 0xFFFFFFFFu;
    while (len >= 4) {
        crc ^= (uint32_t)data[0] | ((uint32_t)data[1] << 8) | ((uint32_t)data[2] << 16) | ((uint32_t)data[3] << 24);
        crc = crc32_t[3][crc & 0xFFu] ^ crc32_t[2][(crc >> 8) & 0xFFu] ^ crc32_t[1][(crc >> 16) & 0xFFu] ^
              crc32_t[0][crc >> 24];
        data += 4;
        len -= 4;
    }
    while (len--)
        crc = (crc >> 8) ^ crc32_t[0][(crc ^ *data++) & 0xFFu];
    return crc ^ 0xFFFFFFFFu;
}

#endif
