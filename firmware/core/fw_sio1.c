/* fw_sio1.c - builds the shared SIO-1 definition (csrc/) into the firmware,
 * with the table-free CRC. One translation unit, so the Arduino IDE, which
 * cannot be given include paths or -D options, builds it too. */
#ifndef SIO_CRC_SMALL
#define SIO_CRC_SMALL 1
#endif
#include "../../csrc/sio_crc.c"
#include "../../csrc/sio_cobs.c"
#include "../../csrc/sio1.c"
