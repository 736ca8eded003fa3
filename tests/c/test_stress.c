/* Two threads, one ring: a producer writes an SIO-1 stream in random chunk
 * sizes while a consumer parses it out of the ring. Built with
 * -fsanitize=thread (make stress) to check the ring's memory ordering, and
 * with ASan/UBSan by `make check`. Every byte and every frame must be
 * accounted for: first with a producer that waits for room (no loss), then
 * with one that never waits (overflow, counted and marked). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "parser_util.h"
#include "sio1.h"

#define FRAMES 20000
#define STREAM_CAP (FRAMES * 200)

static uint8_t *stream_bytes;
static size_t stream_len;
static uint8_t ring_mem[4096];
static sio_ring ring;
static atomic_int producer_done;
static int producer_waits;
static sink_buffers sink;

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void *producer(void *arg)
{
    (void)arg;
    uint32_t seed = 12345;
    size_t off = 0;
    while (off < stream_len) {
        size_t n = (size_t)(next_rand(&seed) % 600) + 1;
        if (n > stream_len - off)
            n = stream_len - off;
        /* the first and last frames always get through, so losses sit
         * between accepted frames where seq gaps reveal them */
        if (producer_waits || off < 50 * 120 || off + n > stream_len - 50 * 120) {
            size_t done = 0;
            while (done < n) {
                size_t blk;
                uint8_t *w = sio_ring_write_block(&ring, &blk);
                if (!blk) {
                    sched_yield();
                    continue;
                }
                size_t k = n - done < blk ? n - done : blk;
                memcpy(w, stream_bytes + off + done, k);
                sio_ring_write_commit(&ring, k);
                done += k;
            }
        } else {
            sio_ring_write(&ring, stream_bytes + off, n);
        }
        off += n;
    }
    atomic_store(&producer_done, 1);
    return NULL;
}

static void run(int waits)
{
    sio_ring_init(&ring, ring_mem, sizeof ring_mem);
    atomic_store(&producer_done, 0);
    producer_waits = waits;
    sio_parser *p = malloc(sio_parser_struct_size());
    sio_parser_init(p, SIO_FMT_SIO1);
    uint64_t rows = 0, frames = 0;
    pthread_t t;
    pthread_create(&t, NULL, producer, NULL);
    for (;;) {
        int done = atomic_load(&producer_done);
        size_t used;
        int st = sio_parser_feed_ring(p, &ring, (size_t)-1, &used);
        if (st == SIO_FEED_NEED_BLOCK) {
            sio_block *b = sio_parser_block(p, 0);
            rows += b->n_rows;
            frames += b->n_frames;
            sio_parser_block_reset(p, 0);
            sink_attach(p, 0, &sink, SINK_VALUES);
            continue;
        }
        if (done && sio_ring_used(&ring) == 0)
            break;
        if (!used)
            sched_yield();
    }
    pthread_join(t, NULL);
    sio_block *b = sio_parser_block(p, 0);
    rows += b->n_rows;
    frames += b->n_frames;
    sio_stats *st = sio_parser_stats(p);
    CHECK_EQ(st->bytes_in + st->ring_overflow_bytes, stream_len);
    CHECK_EQ(accounted_bytes(p), st->bytes_in);
    CHECK_EQ(frames + st->lost_frames, FRAMES);
    CHECK_EQ(rows, frames * 4);
    CHECK_EQ(st->crc_errors + st->cobs_errors + st->malformed + st->restarts, 0);
    if (waits) {
        CHECK_EQ(frames, FRAMES);
        CHECK_EQ(st->ring_overflow_bytes, 0);
    }
    printf("stress (%s): %llu frames received, %llu lost, %llu bytes overflowed\n",
           waits ? "producer waits" : "producer never waits", (unsigned long long)frames,
           (unsigned long long)st->lost_frames, (unsigned long long)st->ring_overflow_bytes);
    free(p);
}

int main(void)
{
    stream_bytes = malloc(STREAM_CAP);
    uint8_t scratch[SIO1_MAX_FRAME];
    int32_t v[4 * 8];
    for (uint32_t s = 0; s < FRAMES; s++) {
        for (int i = 0; i < 32; i++)
            v[i] = (int32_t)(s * 31 + (uint32_t)i) % 3000 - 1500;
        stream_len += sio1_encode_data(0, SIO1_ENC_I16, 8, 4, (uint16_t)s, s * 2000, 0, v, scratch,
                                       sizeof scratch, stream_bytes + stream_len, STREAM_CAP - stream_len);
    }
    run(1);
    run(0);
    free(stream_bytes);
    return check_report("test_stress");
}
