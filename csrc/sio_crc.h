/* sio_crc.h - checksums used by SIO-1 and by declarative board formats. */
#ifndef SIO_CRC_H
#define SIO_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CFFI_BEGIN */
/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout.
 * Pass 0xFFFF as crc to start; feed the result back in to continue. */
uint16_t sio_crc16_ccitt(uint16_t crc, const uint8_t *data, size_t len);
/* CFFI_END */

#define SIO_CRC16_CCITT_INIT 0xFFFFu

#endif
