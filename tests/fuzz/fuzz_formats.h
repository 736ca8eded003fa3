/* Shared body of the fuzz targets for the formats beyond SIO-1 (fuzz_cyton.c,
 * fuzz_ascii.c, fuzz_spec.c): feed the input in chunk sizes drawn from it,
 * with small output blocks so hand-over happens often, with a discontinuity
 * and a flush on the way, and check the byte accounting and every block.
 * After every chunk the blocks are handed over in place (block_advance, as
 * the Python Parser reads them: views of the buffers), and what was handed
 * over is checked never to change until its buffers are given again. */
#ifndef FUZZ_FORMATS_H
#define FUZZ_FORMATS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio_parser.h"

#define FZ_VALUES 1024
#define FZ_FRAMES 64
#define FZ_EVENTS 4

typedef struct {
    int32_t samples[FZ_VALUES];
    uint32_t seq[FZ_FRAMES];
    uint64_t time[FZ_FRAMES];
    uint64_t leadoff[FZ_FRAMES];
    uint32_t row[FZ_FRAMES];
    sio_event events[FZ_EVENTS];
} fz_sink;

static fz_sink fz_sinks[SIO_MAX_STREAMS];
static int32_t *fz_big; /* for frames larger than a sink (long spec frames) */
static uint8_t fz_msg[4096];

static void fz_require(int ok)
{
    if (!ok)
        abort();
}

/* What was handed over in place, per slot: checksums of its regions. */
#define FZ_KEPT 32

typedef struct {
    const void *at[3];
    size_t bytes[3];
    uint32_t sum[3];
} fz_kept;

static fz_kept fz_kept_by[SIO_MAX_STREAMS][FZ_KEPT];
static size_t fz_n_kept[SIO_MAX_STREAMS];

static uint32_t fz_sum(const void *at, size_t bytes)
{
    const uint8_t *b = at;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static void fz_check_kept(void)
{
    for (int s = 0; s < SIO_MAX_STREAMS; s++)
        for (size_t k = 0; k < fz_n_kept[s]; k++)
            for (int i = 0; i < 3; i++)
                fz_require(fz_sum(fz_kept_by[s][k].at[i], fz_kept_by[s][k].bytes[i]) == fz_kept_by[s][k].sum[i]);
}

/* Hands over every slot's block in place, as Parser.read does: its buffers
 * continue after it. */
static void fz_take(sio_parser *p)
{
    for (int slot = 0; slot < SIO_MAX_STREAMS; slot++) {
        sio_block *b = sio_parser_block(p, slot);
        if (!b->n_rows)
            continue;
        fz_require(b->n_rows * b->n_ch <= b->samples_cap);
        fz_require(b->n_frames <= b->frames_cap && b->n_events <= b->events_cap);
        for (size_t i = 0; i < b->n_frames; i++)
            fz_require(b->frame_row[i] < b->n_rows);
        const int32_t *own = fz_sinks[slot].samples;
        if (b->samples >= own && b->samples < own + FZ_VALUES && fz_n_kept[slot] < FZ_KEPT) {
            fz_kept *k = &fz_kept_by[slot][fz_n_kept[slot]++];
            k->at[0] = b->samples;
            k->bytes[0] = b->n_rows * b->n_ch * sizeof *b->samples;
            k->at[1] = b->frame_seq;
            k->bytes[1] = b->n_frames * sizeof *b->frame_seq;
            k->at[2] = b->events;
            k->bytes[2] = b->n_events * sizeof *b->events;
            for (int i = 0; i < 3; i++)
                k->sum[i] = fz_sum(k->at[i], k->bytes[i]);
        }
        int32_t *samples = b->samples;
        size_t cap = b->samples_cap, values = b->n_rows * b->n_ch, rows = b->n_rows;
        uint64_t before = sio_parser_slot_rows_before(p, slot);
        fz_require(sio_parser_block_advance(p, slot) == 0);
        fz_require(b->samples == samples + values && b->samples_cap == cap - values);
        fz_require(!b->n_rows && !b->n_frames && !b->n_events);
        fz_require(sio_parser_slot_rows_before(p, slot) == before + rows);
    }
    fz_check_kept();
}

static void fz_attach(sio_parser *p, int slot)
{
    fz_require(slot >= 0 && slot < SIO_MAX_STREAMS);
    sio_block *b = sio_parser_block(p, slot);
    if (b->n_rows) {
        fz_require(b->n_rows * b->n_ch <= b->samples_cap);
        fz_require(b->n_frames <= b->frames_cap && b->n_events <= b->events_cap);
        for (size_t i = 0; i < b->n_frames; i++)
            fz_require(b->frame_row[i] < b->n_rows);
        sio_parser_block_reset(p, slot);
    }
    fz_check_kept();
    fz_n_kept[slot] = 0; /* its buffers are given again */
    fz_sink *s = &fz_sinks[slot];
    size_t need = sio_parser_need_rows(p) * sio_parser_need_channels(p);
    b->samples = s->samples;
    b->samples_cap = need > FZ_VALUES / 4 ? FZ_VALUES : FZ_VALUES / 4;
    if (need > b->samples_cap) {
        if (!fz_big)
            fz_big = malloc(sizeof(int32_t) * SIO_SPEC_MAX_FRAME * 64);
        b->samples = fz_big;
        b->samples_cap = (size_t)SIO_SPEC_MAX_FRAME * 64;
        fz_require(need <= b->samples_cap);
    }
    b->frame_seq = s->seq;
    b->frame_time = s->time;
    b->frame_leadoff = s->leadoff;
    b->frame_row = s->row;
    b->frames_cap = FZ_FRAMES;
    b->events = s->events;
    b->events_cap = FZ_EVENTS;
}

static void fz_service(sio_parser *p, int status)
{
    if (status == SIO_FEED_NEED_BLOCK)
        fz_attach(p, sio_parser_need_slot(p));
    else if (status == SIO_FEED_NEED_MSG)
        sio_parser_msg_reset(p);
    else
        fz_require(status == SIO_FEED_DONE);
}

static void fz_check(sio_parser *p, uint64_t fed)
{
    sio_stats *s = sio_parser_stats(p);
    fz_require(s->bytes_in == fed);
    fz_require(s->bytes_in == s->bytes_ok + s->bytes_crc + s->bytes_cobs + s->bytes_oversized +
                                  s->bytes_malformed + s->bytes_unknown + s->bytes_resync +
                                  s->bytes_idle + sio_parser_pending_bytes(p));
}

/* Feeds data to an initialised parser in chunks of `chunk`; a discontinuity
 * after `cut` bytes (if < size), a flush at the end. */
static void fz_run(sio_parser *p, const uint8_t *data, size_t size, unsigned chunk, size_t cut)
{
    sio_parser_set_msg_buffer(p, fz_msg, sizeof fz_msg);
    size_t off = 0;
    int cut_done = cut >= size;
    long guard = 0;
    while (off < size) {
        size_t end = !cut_done && cut > off ? cut : size;
        size_t n = end - off < chunk ? end - off : chunk;
        size_t used = 0;
        int st = sio_parser_feed(p, data + off, n, &used);
        fz_require(used <= n);
        off += used;
        if (st != SIO_FEED_DONE) {
            fz_service(p, st);
        } else {
            fz_require(used == n);
            fz_take(p);
        }
        if (!cut_done && off == cut) {
            /* every byte is accounted before and after */
            fz_check(p, off);
            sio_parser_discontinuity(p, 7, SIO_EV_RESYNC);
            fz_check(p, off);
            cut_done = 1;
        }
        fz_require(++guard < 10000000);
    }
    for (;;) {
        int st = sio_parser_flush(p);
        if (st == SIO_FEED_DONE)
            break;
        fz_service(p, st);
        fz_require(++guard < 10000000);
    }
    for (;;) {
        size_t used;
        int st = sio_parser_feed(p, data, 0, &used);
        if (st == SIO_FEED_DONE)
            break;
        fz_service(p, st);
    }
    fz_take(p);
    fz_check(p, size);
}

static sio_parser *fz_parser(void)
{
    static sio_parser *p;
    if (!p)
        p = malloc(sio_parser_struct_size());
    memset(fz_sinks, 0, sizeof fz_sinks);
    memset(fz_n_kept, 0, sizeof fz_n_kept);
    return p;
}

#endif
