/* The SPSC byte ring: capacity, wrap, linear blocks, overflow counting and
 * loss marks. (The two-thread test is test_stress.c.) */
#include <string.h>

#include "check.h"
#include "sio_ring.h"

static void test_basic(void)
{
    uint8_t mem[16];
    sio_ring r;
    CHECK_EQ(sio_ring_init(&r, mem, 12), -1);
    CHECK_EQ(sio_ring_init(&r, mem, 16), 0);
    CHECK_EQ(sio_ring_capacity(&r), 16);
    CHECK_EQ(sio_ring_used(&r), 0);
    CHECK_EQ(sio_ring_free(&r), 16);

    uint8_t data[40], out[40];
    for (int i = 0; i < 40; i++)
        data[i] = (uint8_t)(i + 1);
    /* full capacity usable: no lost slot */
    CHECK_EQ(sio_ring_write(&r, data, 16), 16);
    CHECK_EQ(sio_ring_used(&r), 16);
    CHECK_EQ(sio_ring_free(&r), 0);
    CHECK_EQ(sio_ring_read(&r, out, 10), 10);
    CHECK(memcmp(out, data, 10) == 0);
    /* wraps */
    CHECK_EQ(sio_ring_write(&r, data + 16, 10), 10);
    CHECK_EQ(sio_ring_used(&r), 16);
    size_t len;
    int at_mark;
    const uint8_t *blk = sio_ring_read_block(&r, &len, &at_mark);
    CHECK_EQ(len, 6); /* contiguous up to the end of memory */
    CHECK(!at_mark);
    CHECK(memcmp(blk, data + 10, 6) == 0);
    sio_ring_read_commit(&r, 6);
    CHECK_EQ(sio_ring_read(&r, out, 40), 10);
    CHECK(memcmp(out, data + 16, 10) == 0);
    CHECK_EQ(sio_ring_overflow_bytes(&r), 0);
}

static void test_write_block(void)
{
    uint8_t mem[8];
    sio_ring r;
    sio_ring_init(&r, mem, 8);
    size_t len;
    uint8_t *w = sio_ring_write_block(&r, &len);
    CHECK_EQ(len, 8);
    memcpy(w, "abcde", 5);
    sio_ring_write_commit(&r, 5);
    w = sio_ring_write_block(&r, &len);
    CHECK_EQ(len, 3);
    uint8_t out[8];
    CHECK_EQ(sio_ring_read(&r, out, 4), 4);
    w = sio_ring_write_block(&r, &len);
    CHECK_EQ(len, 3); /* up to the end of memory; the rest after wrap */
    memcpy(w, "fgh", 3);
    sio_ring_write_commit(&r, 3);
    w = sio_ring_write_block(&r, &len);
    CHECK_EQ(len, 4);
    CHECK(w == mem);
    CHECK_EQ(sio_ring_read(&r, out, 8), 4);
    CHECK(memcmp(out, "efgh", 4) == 0);
}

static void test_overflow_marks(void)
{
    uint8_t mem[8];
    sio_ring r;
    sio_ring_init(&r, mem, 8);
    CHECK_EQ(sio_ring_write(&r, (const uint8_t *)"0123456789", 10), 8);
    CHECK_EQ(sio_ring_overflow_bytes(&r), 2);
    CHECK_EQ(sio_ring_overflow_events(&r), 1);
    uint8_t out[16];
    size_t len;
    int at_mark;
    sio_ring_read_block(&r, &len, &at_mark);
    CHECK_EQ(len, 8);
    CHECK_EQ(at_mark, 1); /* the loss happened after these 8 bytes */
    CHECK_EQ(sio_ring_read(&r, out, 16), 8);
    CHECK_EQ(sio_ring_pop_mark(&r), 2);
    CHECK_EQ(sio_ring_pop_mark(&r), 0);
    CHECK_EQ(sio_ring_write(&r, (const uint8_t *)"ab", 2), 2);
    CHECK_EQ(sio_ring_read(&r, out, 16), 2);

    /* marks never merge across written bytes and stop reads at their place */
    sio_ring_init(&r, mem, 8);
    sio_ring_write(&r, (const uint8_t *)"aaaaaaaa", 8);
    sio_ring_write(&r, (const uint8_t *)"x", 1);          /* lost at 8 */
    CHECK_EQ(sio_ring_read(&r, out, 3), 3);
    sio_ring_write(&r, (const uint8_t *)"bbbbb", 5);      /* 3 fit, 2 lost at 11 */
    CHECK_EQ(sio_ring_read(&r, out, 16), 5);               /* stops at the first mark */
    CHECK_EQ(sio_ring_pop_mark(&r), 1);
    CHECK_EQ(sio_ring_read(&r, out, 16), 3);
    CHECK(memcmp(out, "bbb", 3) == 0);
    CHECK_EQ(sio_ring_pop_mark(&r), 2);
    CHECK_EQ(sio_ring_overflow_bytes(&r), 3);
    CHECK_EQ(sio_ring_overflow_events(&r), 2);
}

static void test_mark_queue_full(void)
{
    /* More losses than mark slots: writes are refused while the queue is
     * full, so each mark still sits where bytes went missing. */
    uint8_t mem[4];
    sio_ring r;
    sio_ring_init(&r, mem, 4);
    uint8_t out[8];
    uint64_t lost_total = 0;
    for (int i = 0; i < SIO_RING_MARKS + 5; i++) {
        sio_ring_write(&r, (const uint8_t *)"abcdef", 6);
        size_t len;
        int at_mark;
        sio_ring_read_block(&r, &len, &at_mark);
        (void)len;
    }
    CHECK(sio_ring_overflow_bytes(&r) > 0);
    /* drain everything, popping marks as they come */
    for (int guard = 0; guard < 1000; guard++) {
        size_t len;
        int at_mark;
        sio_ring_read_block(&r, &len, &at_mark);
        sio_ring_read_commit(&r, len);
        if (at_mark) {
            lost_total += sio_ring_pop_mark(&r);
            continue;
        }
        if (!len)
            break;
    }
    (void)out;
    /* losses queued so far are all reported; the rest becomes a mark on the next write */
    sio_ring_write(&r, (const uint8_t *)"z", 1);
    for (int guard = 0; guard < 100; guard++) {
        size_t len;
        int at_mark;
        sio_ring_read_block(&r, &len, &at_mark);
        sio_ring_read_commit(&r, len);
        if (at_mark) {
            lost_total += sio_ring_pop_mark(&r);
            continue;
        }
        if (!len)
            break;
    }
    CHECK_EQ(lost_total, sio_ring_overflow_bytes(&r));
}

int main(void)
{
    test_basic();
    test_write_block();
    test_overflow_marks();
    test_mark_queue_full();
    return check_report("test_ring");
}
