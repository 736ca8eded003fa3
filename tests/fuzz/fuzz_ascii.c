/* libFuzzer target: the ASCII line parser (see fuzz_formats.h). Input bytes
 * 0-3 pick the chunk size, a discontinuity, the channel count (0 = learn)
 * and the line limit. Also built with replay_main.c for corpus replay. */
#include "fuzz_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    unsigned chunk = (unsigned)data[0] % 64 + 1;
    size_t cut = (size_t)data[1] * 5;
    uint32_t n_ch = data[2] % 6;
    uint32_t max_line = 2 + (uint32_t)data[3] * 16;
    sio_parser *p = fz_parser();
    fz_require(sio_parser_init(p, SIO_FMT_ASCII) == 0);
    fz_require(sio_fmt_ascii_configure(p, n_ch, max_line) == 0);
    fz_run(p, data + 4, size - 4, chunk, cut);
    return 0;
}
