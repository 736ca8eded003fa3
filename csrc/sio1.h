/* sio1.h - SIO-1, sensorio's device wire protocol: the one definition that
 * the host parser, the Python binding and the firmware in firmware/ share.
 * See PROTOCOL.md for the specification. Frames are COBS-encoded and end in
 * 0x00; the decoded frame ends in a CRC-16/CCITT-FALSE over everything before
 * it; multi-byte integers are little-endian.
 *
 * Nothing here allocates or calls the OS, so an 8-bit MCU can build it
 * (define SIO_CRC_SMALL there to drop the CRC tables).
 */
#ifndef SIO1_H
#define SIO1_H

#include <stddef.h>
#include <stdint.h>

#include "sio_cobs.h"
#include "sio_crc.h"

#define SIO1_MAX_FRAME 1024 /* decoded bytes, CRC included */
#define SIO1_MAX_ENCODED (SIO_COBS_MAX_ENCODED(SIO1_MAX_FRAME)) /* without delimiter */
#define SIO1_DATA_HEADER 11 /* type, stream, enc, n_ch, n_samp, seq u16, t_us u32 */
#define SIO1_MAX_CHANNELS 64
#define SIO1_MAX_CMD_LINE 64

/* CFFI_BEGIN */
enum {
    SIO1_TYPE_DATA = 0x01,
    SIO1_TYPE_INFO = 0x02,
    SIO1_TYPE_REPLY = 0x03,
    SIO1_TYPE_LOG = 0x04
};

enum {
    SIO1_ENC_I16 = 1,
    SIO1_ENC_I24 = 2,
    SIO1_ENC_I32 = 3,
    SIO1_ENC_U16 = 4
};

/* A validated DATA frame, pointing into the decoded frame bytes. */
typedef struct {
    uint8_t stream;
    uint8_t enc;
    uint8_t n_ch;
    uint8_t n_samp;
    uint16_t seq;
    uint32_t t_us;
    uint64_t leadoff;         /* bit i = channel i reported off */
    const uint8_t *samples;   /* n_samp * n_ch values, sample-major */
} sio1_data;

/* Result of checking one decoded frame (see sio1_check_frame). */
enum {
    SIO1_OK = 0,
    SIO1_ERR_CRC = 1,
    SIO1_ERR_MALFORMED = 2,
    SIO1_ERR_UNKNOWN_TYPE = 3
};

/* Bytes per sample value for an encoding, 0 if the encoding is unknown. */
int sio1_enc_width(int enc);

/* Exact decoded length of a DATA frame with this shape (CRC included), or 0
 * if the shape is invalid or exceeds SIO1_MAX_FRAME. */
size_t sio1_data_frame_len(int enc, int n_ch, int n_samp);

/* Checks a decoded frame: CRC, then type, then (for DATA) the exact layout.
 * On SIO1_OK with a DATA frame, fills *data if it is not NULL. */
int sio1_check_frame(const uint8_t *frame, size_t len, sio1_data *data);

/* Converts n values of one encoding, as stored in a frame, to int32. */
void sio1_unpack(int enc, const uint8_t *src, size_t n, int32_t *dst);

/* Builds a complete wire frame (COBS-encoded, 0x00 delimiter appended) with
 * the CRC added to type + body. scratch must hold body_len + 3 bytes. Returns
 * bytes written, 0 if the body is too long or a buffer too small. */
size_t sio1_encode_frame(uint8_t type, const uint8_t *body, size_t body_len,
                         uint8_t *scratch, size_t scratch_cap,
                         uint8_t *out, size_t out_cap);

/* Builds a complete DATA wire frame. samples holds n_samp * n_ch int32
 * values, sample-major, packed to enc (values are truncated to its width).
 * scratch must hold sio1_data_frame_len() bytes. Returns bytes written to
 * out, or 0 if the shape is invalid or a buffer is too small. */
size_t sio1_encode_data(uint8_t stream, uint8_t enc, uint8_t n_ch, uint8_t n_samp,
                        uint16_t seq, uint32_t t_us, uint64_t leadoff,
                        const int32_t *samples, uint8_t *scratch, size_t scratch_cap,
                        uint8_t *out, size_t out_cap);
/* CFFI_END */

/* Worst-case wire size of a frame of decoded length len (delimiter included). */
#define SIO1_WIRE_MAX(len) (SIO_COBS_MAX_ENCODED(len) + 1)

/* Seals a frame assembled in place: writes the CRC of frame[0..len-2) into
 * its last two bytes, COBS-encodes frame[0..len) to out and appends the
 * delimiter. For builders that cannot spare a scratch copy (8-bit firmware).
 * Returns bytes written, 0 if len < 3, len > SIO1_MAX_FRAME or out_cap is
 * below SIO1_WIRE_MAX(len). */
size_t sio1_finish_frame(uint8_t *frame, size_t len, uint8_t *out, size_t out_cap);

#endif
