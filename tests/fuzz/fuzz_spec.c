/* libFuzzer target: declarative formats. The first 40 input bytes build a
 * random spec within the spec language (sync, fixed size or length field,
 * trailer, last-byte set, counter, timestamp, checksum kind/coverage/place,
 * up to four streams of any channel types, conditions); specs the C check
 * refuses are skipped, as the Python compiler would refuse them. The rest of
 * the input is fed as the byte stream (see fuzz_formats.h). Also built with
 * replay_main.c so the test run replays the corpus. */
#include "fuzz_formats.h"

#define SPEC_BYTES 40

static const uint8_t channel_types[] = {
    SIO_FT_U8, SIO_FT_I8, SIO_FT_U16, SIO_FT_I16, SIO_FT_U24, SIO_FT_I24, SIO_FT_I32, SIO_FT_F32,
    SIO_FT_U16 | SIO_FT_BE, SIO_FT_I16 | SIO_FT_BE, SIO_FT_I24 | SIO_FT_BE, SIO_FT_I32 | SIO_FT_BE,
    SIO_FT_F32 | SIO_FT_BE, SIO_FT_U24 | SIO_FT_BE,
};
static const uint8_t field_types[] = {
    SIO_FT_U8, SIO_FT_U16, SIO_FT_U24, SIO_FT_U32, SIO_FT_U16 | SIO_FT_BE, SIO_FT_U32 | SIO_FT_BE,
};

static int32_t offset_from(uint8_t v, uint32_t lo)
{
    /* half from the start, half from the end */
    int32_t o = (int32_t)(v % (lo ? lo : 1));
    return (v & 0x80) ? -(o + 1) : o;
}

static void build_spec(const uint8_t *b, sio_spec *d)
{
    memset(d, 0, sizeof *d);
    d->sync_len = 1 + b[0] % 3;
    memcpy(d->sync, b + 1, 3);
    if (b[4] & 1) {
        d->fixed_size = 4 + b[5] % 60;
    } else {
        d->len_type = field_types[b[5] % 6];
        d->len_offset = d->sync_len + b[6] % 3;
        d->len_adjust = (int32_t)(b[7] % 16) - 4;
        d->min_size = d->len_offset + 4 + b[8] % 8;
        d->max_size = d->min_size + b[9] % 200;
    }
    uint32_t lo = d->fixed_size ? d->fixed_size : d->min_size;
    d->trailer_len = b[10] % 3;
    memcpy(d->trailer, b + 11, 2);
    d->use_end_set = b[13] & 1;
    memset(d->end_set, b[14], sizeof d->end_set);
    d->seq_offset = (b[15] & 1) ? offset_from(b[16], lo) : INT32_MIN;
    d->seq_type = field_types[b[17] % 6];
    d->seq_modulus = (b[17] & 0x80) ? 2u + b[18] : 0;
    d->time_offset = (b[19] & 1) ? offset_from(b[20], lo) : INT32_MIN;
    d->time_type = field_types[b[21] % 6];
    d->ck_kind = b[22] % 7;
    d->ck_offset = offset_from(b[23], lo);
    d->ck_start = b[24] % 4;
    d->ck_end = (b[24] & 0x80) ? (int32_t)(b[24] % 8) + 1 : -(int32_t)(b[25] % 5);
    d->ck_big_endian = b[25] >> 7;
    d->confirm = b[26] & 1;
    d->n_streams = 1 + b[26] % 4;
    for (uint32_t k = 0; k < d->n_streams; k++) {
        const uint8_t *s = b + 27 + 3 * k;
        sio_spec_stream *st = &d->streams[k];
        st->id = k * 3 + (s[0] & 1);
        st->n_ch = 1 + s[0] % 9;
        uint8_t t = channel_types[s[1] % sizeof channel_types];
        int mixed = (s[1] & 0x80) && !(t & SIO_FT_FLOAT);
        uint32_t pos = 0;
        for (uint32_t c = 0; c < st->n_ch; c++) {
            uint8_t tc = mixed && (c & 1) ? SIO_FT_I8 : t;
            st->types[c] = tc;
            st->offsets[c] = (uint16_t)pos;
            pos += tc & 7;
        }
        st->is_float = (t & SIO_FT_FLOAT) != 0;
        st->enc = SIO_ENC_INT;
        st->stride = pos + (s[2] & 3);
        st->data_offset = (int32_t)(s[2] >> 2) % 8;
        st->n_rows = s[2] & 0x40 ? 0 : 1 + (s[0] >> 5) % 3;
        st->data_end = -(int32_t)(s[1] % 4);
        st->cond_offset = (s[0] & 0x10) ? offset_from(s[2], lo) : INT32_MIN;
        st->cond_value = s[1];
        st->skip_if_zero = (s[0] >> 3) & 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SPEC_BYTES + 2)
        return 0;
    sio_spec d;
    build_spec(data, &d);
    sio_parser *p = fz_parser();
    fz_require(sio_parser_init(p, SIO_FMT_SPEC) == 0);
    if (sio_fmt_spec_configure(p, &d) != 0)
        return 0;
    unsigned chunk = (unsigned)data[SPEC_BYTES] % 80 + 1;
    size_t cut = (size_t)data[SPEC_BYTES + 1] * 9;
    fz_run(p, data + SPEC_BYTES + 2, size - SPEC_BYTES - 2, chunk, cut);
    return 0;
}
