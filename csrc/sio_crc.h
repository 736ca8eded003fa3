/* sio_crc.h - checksums used by SIO-1 and by declarative board formats. */
#ifndef SIO_CRC_H
#define SIO_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CFFI_BEGIN */
/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout.
 * Pass 0xFFFF as crc to start; feed the result back in to continue. */
uint16_t sio_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len);

/* Checksums of declarative board formats, each over a whole buffer.
 * xor8: XOR of all bytes. sum8: sum of all bytes modulo 256.
 * crc8: CRC-8/SMBUS (poly 0x07, init 0, no reflection, no xorout).
 * crc16-modbus: poly 0x8005 reflected, init 0xFFFF, no xorout.
 * crc32: CRC-32/ISO-HDLC (zlib): poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF. */
uint8_t sio_xor8(const uint8_t *data, size_t len);
uint8_t sio_sum8(const uint8_t *data, size_t len);
uint8_t sio_crc8(const uint8_t *data, size_t len);
uint16_t sio_crc16_modbus(const uint8_t *data, size_t len);
uint32_t sio_crc32(const uint8_t *data, size_t len);
/* CFFI_END */

#define SIO_CRC16_CCITT_INIT 0xFFFFu

#endif
