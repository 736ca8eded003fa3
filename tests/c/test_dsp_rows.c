/* sio_dsp_rows_move (csrc/sio_dsp.c): each channel's rows moved to the
 * front, overlapping or not, for every element size; nothing outside those
 * rows touched; and the argument checks (a buffer too small for the
 * channels, rows past the stride, an element size, no buffer). Exact-size
 * buffers, so the sanitizers see any access past them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_dsp.h"

/* ch channels of stride elements of elem bytes, byte k of the buffer = k % 251 */
static uint8_t *filled(int64_t ch, int64_t stride, int64_t elem)
{
    const size_t bytes = (size_t)(ch * stride * elem);
    uint8_t *b = malloc(bytes ? bytes : 1);
    for (size_t k = 0; k < bytes; k++)
        b[k] = (uint8_t)(k % 251);
    return b;
}

static void check_move(int64_t elem, int64_t ch, int64_t stride, int64_t from, int64_t n)
{
    uint8_t *b = filled(ch, stride, elem);
    uint8_t *before = filled(ch, stride, elem);
    CHECK_EQ(sio_dsp_rows_move(b, ch * stride, elem, ch, stride, from, n), 0);
    int same = 1;
    for (int64_t c = 0; c < ch; c++) {
        for (int64_t r = 0; r < stride; r++) {
            const uint8_t *got = b + (c * stride + r) * elem;
            /* rows [0, n) hold what was at [from, from + n); the others are untouched */
            const uint8_t *want = before + (c * stride + (r < n ? r + from : r)) * elem;
            same &= memcmp(got, want, (size_t)elem) == 0;
        }
    }
    CHECK(same);
    free(b);
    free(before);
}

int main(void)
{
    const int64_t elems[4] = {1, 2, 4, 8};
    for (int e = 0; e < 4; e++) {
        check_move(elems[e], 3, 10, 6, 4);  /* apart */
        check_move(elems[e], 3, 10, 2, 7);  /* overlapping */
        check_move(elems[e], 1, 10, 0, 10); /* onto itself */
        check_move(elems[e], 2, 10, 10, 0); /* nothing left */
        check_move(elems[e], 4, 7, 1, 6);   /* up to the stride's end */
    }
    uint8_t buf[80];
    CHECK_EQ(sio_dsp_rows_move(buf, 80, 8, 2, 5, 2, 3), 0);
    CHECK_EQ(sio_dsp_rows_move(buf, 79, 8, 2, 40, 2, 3), -1); /* 2 x 40 > 79 elements */
    CHECK_EQ(sio_dsp_rows_move(buf, 10, 8, 2, 5, 3, 3), -1);  /* rows past the stride */
    CHECK_EQ(sio_dsp_rows_move(buf, 10, 3, 2, 5, 2, 3), -1);  /* element size */
    CHECK_EQ(sio_dsp_rows_move(buf, 10, 8, -1, 5, 2, 3), -1);
    CHECK_EQ(sio_dsp_rows_move(buf, 10, 8, 2, 5, -1, 3), -1);
    CHECK_EQ(sio_dsp_rows_move(buf, 10, 8, 2, 5, 2, -1), -1);
    CHECK_EQ(sio_dsp_rows_move(NULL, 10, 8, 2, 5, 2, 3), -1); /* rows to move, no buffer */
    CHECK_EQ(sio_dsp_rows_move(NULL, 0, 8, 0, 5, 2, 3), 0);   /* no channel: nothing to do */
    CHECK_EQ(sio_dsp_rows_move(buf, INT64_MAX, 8, 4, INT64_MAX / 2, 1, 1), -1); /* ch x stride overflows */
    return check_report("test_dsp_rows");
}
