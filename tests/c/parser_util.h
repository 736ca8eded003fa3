/* Helpers shared by the C parser tests: an output sink with static buffers
 * and the byte-accounting invariant. */
#ifndef PARSER_UTIL_H
#define PARSER_UTIL_H

#include <string.h>

#include "sio_parser.h"

#define SINK_VALUES 65536
#define SINK_FRAMES 4096
#define SINK_EVENTS 64

typedef struct {
    int32_t samples[SINK_VALUES];
    uint32_t seq[SINK_FRAMES];
    uint64_t time[SINK_FRAMES];
    uint64_t leadoff[SINK_FRAMES];
    uint32_t row[SINK_FRAMES];
    sio_event events[SINK_EVENTS];
} sink_buffers;

static void sink_attach(sio_parser *p, int slot, sink_buffers *s, size_t values)
{
    sio_block *b = sio_parser_block(p, slot);
    b->samples = s->samples;
    b->samples_cap = values < SINK_VALUES ? values : SINK_VALUES;
    b->frame_seq = s->seq;
    b->frame_time = s->time;
    b->frame_leadoff = s->leadoff;
    b->frame_row = s->row;
    b->frames_cap = SINK_FRAMES;
    b->events = s->events;
    b->events_cap = SINK_EVENTS;
}

static uint64_t accounted_bytes(sio_parser *p)
{
    sio_stats *s = sio_parser_stats(p);
    return s->bytes_ok + s->bytes_crc + s->bytes_cobs + s->bytes_oversized + s->bytes_malformed +
           s->bytes_unknown + s->bytes_resync + s->bytes_idle + sio_parser_pending_bytes(p);
}

#endif
