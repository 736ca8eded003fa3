/* libFuzzer target: the OpenBCI Cyton parser (see fuzz_formats.h). The
 * first input byte picks the chunk size, the second where a discontinuity
 * falls. Also built with replay_main.c so the test run replays the corpus. */
#include "fuzz_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned chunk = (unsigned)data[0] % 80 + 1;
    size_t cut = (size_t)data[1] * 7;
    sio_parser *p = fz_parser();
    fz_require(sio_parser_init(p, SIO_FMT_CYTON) == 0);
    fz_run(p, data + 2, size - 2, chunk, cut);
    return 0;
}
