/* fw_host_test.c - unit tests of the firmware core on the host port.
 * Usage: fw_host_test [--dump FILE]  (FILE gets every byte the core sent,
 * for the Python side to decode with sensorio.Parser). Exit 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/sio1.h"
#include "../core/fw_core.h"
#include "fw_host.h"

static int failures;
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static uint8_t session[1 << 16]; /* every byte sent, for --dump */
static size_t session_len;

typedef struct {
    uint8_t type;
    uint8_t bytes[SIO1_MAX_FRAME];
    size_t len;
    sio1_data data;
} frame_t;

static frame_t frames[64];
static size_t n_frames;
static uint8_t partial[2048];
static size_t partial_len;

/* Drains the core and splits what it sent into checked frames. */
static void collect(void)
{
    uint8_t buf[4096];
    size_t n = fw_host_drain(buf, sizeof buf);
    CHECK(session_len + n <= sizeof session);
    memcpy(session + session_len, buf, n);
    session_len += n;
    for (size_t i = 0; i < n; i++) {
        if (buf[i]) {
            CHECK(partial_len < sizeof partial);
            partial[partial_len++] = buf[i];
            continue;
        }
        if (!partial_len)
            continue; /* the start-up 0x00 */
        CHECK(n_frames < 64);
        frame_t *f = &frames[n_frames++];
        long len = sio_cobs_decode(partial, partial_len, f->bytes, sizeof f->bytes);
        CHECK(len > 0);
        f->len = (size_t)len;
        CHECK(sio1_check_frame(f->bytes, f->len, &f->data) == SIO1_OK);
        f->type = f->bytes[0];
        partial_len = 0;
    }
}

static void reset_frames(void)
{
    collect();
    n_frames = 0;
}

static int is_reply(const frame_t *f, const char *text)
{
    return f->type == SIO1_TYPE_REPLY && f->len == strlen(text) + 3 &&
           memcmp(f->bytes + 1, text, strlen(text)) == 0;
}

/* Sends a command and expects exactly one REPLY frame with this text. */
static void expect_reply(const char *cmd, const char *reply)
{
    reset_frames();
    fw_host_send(cmd);
    collect();
    CHECK(n_frames == 1);
    if (n_frames != 1 || !is_reply(&frames[0], reply))
        fprintf(stderr, "  command %s-> expected \"%s\"\n", cmd, reply);
    CHECK(n_frames >= 1 && is_reply(&frames[0], reply));
}

static int info_has(const frame_t *f, const char *needle)
{
    char json[SIO1_MAX_FRAME];
    memcpy(json, f->bytes + 1, f->len - 3);
    json[f->len - 3] = 0;
    return strstr(json, needle) != NULL;
}

static uint16_t code_at(const frame_t *f, int row, int ch)
{
    const uint8_t *p = f->data.samples + (row * FW_CHANNELS + ch) * 2;
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint16_t codes_for(uint32_t row, uint16_t out[FW_CHANNELS])
{
    for (int ch = 0; ch < FW_CHANNELS; ch++)
        out[ch] = (uint16_t)((row * 7u + (uint32_t)ch * 131u) % 1024u);
    return out[0];
}

static void test_boot(void)
{
    fw_init();
    CHECK(fw_host_rate_hz == FW_RATE_DEFAULT);
    collect();
    CHECK(session_len > 0 && session[0] == 0x00); /* flushes the receiver */
    CHECK(n_frames == 1);
    CHECK(frames[0].type == SIO1_TYPE_INFO);
    CHECK(info_has(&frames[0], "\"rate_hz\":1000,"));
#if FW_CHANNELS == 6 && FW_GAIN == 1000
    CHECK(info_has(&frames[0], "\"channels\":6,"));
    CHECK(info_has(&frames[0], "\"scale\":4.8828125,"));   /* 5e6 uV / 1024 / 1000 */
    CHECK(info_has(&frames[0], "\"test_uv\":488.28125,")); /* 100 counts */
#endif
    CHECK(info_has(&frames[0], "\"enc\":4,"));
    CHECK(info_has(&frames[0], "\"zero\":512,"));
    CHECK(info_has(&frames[0], "\"min_code\":0,\"max_code\":1023"));
    CHECK(fw_idle());
}

static void test_commands(void)
{
    char rate_err[64];
    snprintf(rate_err, sizeof rate_err, "ERR unsupported rate: %u..%u Hz dividing %lu", FW_RATE_MIN,
             (unsigned)FW_RATE_MAX, (unsigned long)FW_TIMER_HZ);
    reset_frames();
    fw_host_send("INFO\r\n");
    collect();
    CHECK(n_frames == 2);
    CHECK(frames[0].type == SIO1_TYPE_INFO);
    CHECK(n_frames == 2 && is_reply(&frames[1], "OK"));

    expect_reply("BOGUS\n", "ERR unknown command");
    expect_reply("info\n", "ERR unknown command");
    expect_reply("INFO2\n", "ERR unknown command");
    expect_reply("TEST\n", "ERR unknown command");
    char line[80];
    memset(line, 'X', 64);
    strcpy(line + 64, "\n");
    expect_reply(line, "ERR unknown command"); /* 64 bytes: allowed length */
    memset(line, 'X', 65);
    strcpy(line + 65, "\n");
    expect_reply(line, "ERR line too long");
    expect_reply("TEST ON\n", "OK");
    expect_reply("TEST OFF \r\n", "OK"); /* trailing blanks and \r ignored */
    reset_frames();
    fw_host_send("\n\r\n");
    collect();
    CHECK(n_frames == 0); /* blank lines get no answer */

    expect_reply("RATE 500\n", "OK");
    CHECK(fw_host_rate_hz == 500 && fw_rate_hz() == 500);
    expect_reply("RATE 999\n", rate_err);
    CHECK(fw_host_rate_hz == 500);
#if FW_CHANNELS == 6
    expect_reply("RATE 2000\n", rate_err);
#endif
    expect_reply("RATE 40\n", rate_err);
    expect_reply("RATE abc\n", rate_err);
    expect_reply("RATE 99999999999\n", rate_err);
    expect_reply("RATE\n", "ERR unknown command");
    expect_reply("RATE 1000\n", "OK");
    expect_reply("STOP\n", "OK"); /* harmless when stopped */
    /* a byte the UART lost spoils its line, not the next one */
    reset_frames();
    fw_host_send("STA");
    fw_rx_lost();
    fw_host_send("RT\n");
    collect();
    CHECK(n_frames == 1 && is_reply(&frames[0], "ERR input lost, line dropped"));
    CHECK(!fw_streaming());
    expect_reply("TEST OFF\n", "OK");
    /* commands split across many small writes */
    reset_frames();
    fw_host_send("TE");
    fw_host_send("ST O");
    fw_host_send("FF\n");
    collect();
    CHECK(n_frames == 1 && is_reply(&frames[0], "OK"));
}

static void test_stream(void)
{
    const uint32_t period = 1000;
    uint16_t codes[FW_CHANNELS];
    expect_reply("START\n", "OK");
    CHECK(fw_streaming());
    expect_reply("RATE 500\n", "ERR streaming, send STOP first");
    reset_frames();
    const uint32_t t0 = 123456, spf = FW_SAMPLES_PER_FRAME, tail = spf / 2, n_rows = 2 * spf + tail;
    for (uint32_t row = 0; row < n_rows; row++) {
        codes_for(row, codes);
        CHECK(fw_host_tick(t0 + row * period, codes) == FW_CHANNELS);
        collect();
    }
    CHECK(n_frames == 2);
    fw_host_send("STOP\n");
    collect();
    CHECK(n_frames == 2); /* OK waits for the sampler to flush */
    fw_host_tick(t0 + n_rows * period, codes);
    collect();
    CHECK(!fw_streaming());
    CHECK(n_frames == 4);
    CHECK(n_frames == 4 && frames[2].type == SIO1_TYPE_DATA && is_reply(&frames[3], "OK"));
    uint32_t row = 0;
    for (size_t i = 0; i < 3 && i < n_frames; i++) {
        const sio1_data *d = &frames[i].data;
        CHECK(frames[i].type == SIO1_TYPE_DATA);
        CHECK(d->seq == i && d->stream == 0 && d->enc == SIO1_ENC_U16 && d->n_ch == FW_CHANNELS);
        CHECK(d->n_samp == (i < 2 ? spf : tail));
        CHECK(d->t_us == t0 + row * period);
        CHECK(d->leadoff == 0);
        for (int r = 0; r < d->n_samp; r++, row++) {
            codes_for(row, codes);
            for (int ch = 0; ch < FW_CHANNELS; ch++)
                CHECK(code_at(&frames[i], r, ch) == codes[ch]);
        }
    }
    CHECK(row == n_rows);
    /* ticks while stopped do nothing */
    CHECK(fw_host_tick(t0 + 30 * period, codes) == 0);
    reset_frames();
    CHECK(n_frames == 0);

    /* a new START continues the seq numbering */
    expect_reply("START\n", "OK");
    reset_frames();
    for (uint32_t r = 0; r < FW_SAMPLES_PER_FRAME; r++)
        fw_host_tick(t0 + (40 + r) * period, codes);
    collect();
    CHECK(n_frames == 1 && frames[0].data.seq == 3 && frames[0].data.t_us == t0 + 40 * period);
    fw_host_send("STOP\n");
    fw_host_tick(t0 + 50 * period, codes);
    collect();
    CHECK(n_frames == 2 && is_reply(&frames[1], "OK")); /* nothing to flush */
}

static void test_square_wave(void)
{
    uint16_t codes[FW_CHANNELS] = {0};
    expect_reply("TEST ON\n", "OK");
    expect_reply("START\n", "OK");
    reset_frames();
    /* 10 Hz: high for the first 50 ms of each 100 ms of device time */
    const uint32_t ts[FW_SAMPLES_PER_FRAME] = {0, 49999, 50000, 99999, 100000, 149999, 1234567, 4294967295u};
    for (int i = 0; i < FW_SAMPLES_PER_FRAME; i++)
        CHECK(fw_host_tick(ts[i], codes) == 0); /* no conversions in TEST mode */
    collect();
    CHECK(n_frames == 1);
    for (int i = 0; i < FW_SAMPLES_PER_FRAME && n_frames == 1; i++) {
        uint16_t want = ((ts[i] / 50000u) & 1u) ? FW_ZERO_CODE - FW_TEST_COUNTS : FW_ZERO_CODE + FW_TEST_COUNTS;
        for (int ch = 0; ch < FW_CHANNELS; ch++)
            CHECK(code_at(&frames[0], i, ch) == want);
    }
    fw_host_send("STOP\n");
    fw_host_tick(5000000, codes);
    expect_reply("TEST OFF\n", "OK");
}

/* The host stops reading: frames queue in the two buffers, then whole
 * frames are dropped with their seq used up, so the receiver counts them. */
static void test_backpressure(void)
{
    uint16_t codes[FW_CHANNELS] = {0};
    expect_reply("START\n", "OK");
    reset_frames();
    int ticks = 5 * FW_SAMPLES_PER_FRAME;
    for (int i = 0; i < ticks; i++) {
        codes_for((uint32_t)i, codes);
        fw_host_tick((uint32_t)i * 1000u, codes);
        fw_host_settle(); /* nothing drained: the wire stays busy */
    }
    fw_host_send("STOP\n");
    fw_host_tick((uint32_t)ticks * 1000u, codes);
    collect();
    /* in the wire: the first frame; in the buffers: the second and third;
     * frames 4 and 5 found no buffer */
    int data = 0;
    uint16_t seqs[8];
    for (size_t i = 0; i < n_frames; i++)
        if (frames[i].type == SIO1_TYPE_DATA && data < 8)
            seqs[data++] = frames[i].data.seq;
    CHECK(data == 3);
    CHECK(n_frames == 4 && is_reply(&frames[3], "OK"));
    CHECK(data == 3 && (uint16_t)(seqs[1] - seqs[0]) == 1 && (uint16_t)(seqs[2] - seqs[1]) == 1);
    CHECK(data == 3 && frames[2].data.t_us == 2u * FW_SAMPLES_PER_FRAME * 1000u);
    /* the next frame's seq shows the two dropped ones */
    expect_reply("START\n", "OK");
    reset_frames();
    for (int i = 0; i < FW_SAMPLES_PER_FRAME; i++)
        fw_host_tick((uint32_t)(ticks + 2 + i) * 1000u, codes);
    collect();
    CHECK(data == 3 && n_frames == 1 && (uint16_t)(frames[0].data.seq - seqs[2]) == 3);
    fw_host_send("STOP\n");
    fw_host_tick(9000000, codes);
    reset_frames();
}

/* A tick that finds the previous row still converting is skipped, and the
 * frame ends after that row, so every frame stays evenly spaced. */
static void test_overrun(void)
{
    uint16_t codes[FW_CHANNELS] = {0};
    expect_reply("START\n", "OK");
    reset_frames();
    CHECK(fw_tick(10000000) == 0);
    for (int ch = 0; ch < FW_CHANNELS - 1; ch++)
        fw_adc_done(1);
    CHECK(fw_tick(10001000) == -1); /* still converting: skipped */
    CHECK(fw_adc_done(2) == -1);    /* the row completes */
    collect();
    CHECK(n_frames == 1 && frames[0].data.n_samp == 1 && frames[0].data.t_us == 10000000);
    fw_host_tick(10002000, codes);
    fw_host_send("STOP\n");
    fw_host_tick(10003000, codes);
    collect();
    CHECK(n_frames == 3 && frames[1].data.t_us == 10002000 && is_reply(&frames[2], "OK"));
}

int main(int argc, char **argv)
{
    test_boot();
    test_commands();
    test_stream();
    test_square_wave();
    test_backpressure();
    test_overrun();
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(session, 1, session_len, f) != session_len || fclose(f)) {
            perror(argv[2]);
            return 2;
        }
    }
    if (failures) {
        fprintf(stderr, "fw_host_test: %d check(s) failed\n", failures);
        return 1;
    }
    printf("fw_host_test: all checks passed (%zu bytes sent by the core)\n", session_len);
    return 0;
}
