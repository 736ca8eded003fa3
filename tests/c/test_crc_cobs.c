/* CRC-16/CCITT-FALSE and COBS: known values, round trips, and rejection. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_cobs.h"
#include "sio_crc.h"

static uint16_t crc_bitwise(const uint8_t *d, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(d[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static void test_crc(void)
{
    CHECK_EQ(sio_crc16_ccitt(0xFFFF, (const uint8_t *)"123456789", 9), 0x29B1);
    CHECK_EQ(sio_crc16_ccitt(0xFFFF, NULL, 0), 0xFFFF);
    uint8_t buf[1031];
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand();
    for (size_t n = 0; n < sizeof buf; n += 13) {
        CHECK_EQ(sio_crc16_ccitt(0xFFFF, buf, n), crc_bitwise(buf, n));
        /* continuing a CRC over a split equals the whole */
        size_t k = n / 3;
        CHECK_EQ(sio_crc16_ccitt(sio_crc16_ccitt(0xFFFF, buf, k), buf + k, n - k), crc_bitwise(buf, n));
    }
}

static void roundtrip(const uint8_t *src, size_t n)
{
    uint8_t enc[SIO_COBS_MAX_ENCODED(2048)], dec[2048];
    size_t e = sio_cobs_encode(src, n, enc, sizeof enc);
    CHECK(e >= 1 && e <= SIO_COBS_MAX_ENCODED(n));
    CHECK(memchr(enc, 0, e) == NULL);
    long d = sio_cobs_decode(enc, e, dec, sizeof dec);
    CHECK_EQ(d, (long)n);
    CHECK(d >= 0 && memcmp(dec, src, n) == 0);
    /* in place */
    long d2 = sio_cobs_decode(enc, e, enc, e);
    CHECK_EQ(d2, (long)n);
    CHECK(d2 >= 0 && memcmp(enc, src, n) == 0);
}

static void test_cobs(void)
{
    static const uint8_t z1[] = {0};
    static const uint8_t ex[] = {0x11, 0x22, 0x00, 0x33};
    uint8_t enc[16];
    CHECK_EQ(sio_cobs_encode(z1, 1, enc, sizeof enc), 2);
    CHECK(enc[0] == 1 && enc[1] == 1);
    CHECK_EQ(sio_cobs_encode(ex, 4, enc, sizeof enc), 5);
    CHECK(enc[0] == 3 && enc[1] == 0x11 && enc[2] == 0x22 && enc[3] == 2 && enc[4] == 0x33);
    CHECK_EQ(sio_cobs_encode(ex, 4, enc, 4), 0); /* too small */

    uint8_t buf[2048];
    for (size_t n = 0; n < 600; n++) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(i % 7 ? rand() : 0);
        roundtrip(buf, n);
    }
    memset(buf, 0xAB, sizeof buf); /* long runs without zeros: 0xFF codes */
    roundtrip(buf, 254);
    roundtrip(buf, 255);
    roundtrip(buf, 508);
    roundtrip(buf, 2048);

    /* invalid: code past the end, zero inside, output too small */
    static const uint8_t past[] = {5, 1, 2};
    static const uint8_t zero[] = {3, 0, 2};
    static const uint8_t ok[] = {3, 1, 2};
    uint8_t out[8];
    CHECK_EQ(sio_cobs_decode(past, 3, out, sizeof out), SIO_COBS_ERR_INVALID);
    CHECK_EQ(sio_cobs_decode(zero, 3, out, sizeof out), SIO_COBS_ERR_INVALID);
    CHECK_EQ(sio_cobs_decode(ok, 3, out, 1), SIO_COBS_ERR_SPACE);
    CHECK_EQ(sio_cobs_decode(ok, 3, out, 2), 2);
}

int main(void)
{
    test_crc();
    test_cobs();
    return check_report("test_crc_cobs");
}
