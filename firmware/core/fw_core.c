/* fw_core.c - sample scheduler, SIO-1 frame builder and command parser of
 * the reference firmware. Portable C11: no allocation, no OS; the port
 * drives it from its interrupts (see fw_core.h).
 *
 * Data path: the sample tick opens a DATA frame in one of two frame buffers
 * and the sampler writes each 10-bit code straight into it, in the SIO-1
 * layout; a full frame is handed to the main loop, which seals it (CRC,
 * COBS) into the wire buffer that the UART drains, while the sampler fills
 * the other buffer. If both are still waiting the new frame is dropped but
 * its seq is used up, so the host sees the gap. */
#include "fw_core.h"

#include "fw_hal.h"
#include "../../csrc/sio1.h"

/* String constants stay in flash on the AVR (its RAM is 2 KB). */
#ifdef __AVR__
#include <avr/pgmspace.h>
#define FW_PSTR(s) PSTR(s)
#define FW_PGM_BYTE(p) pgm_read_byte(p)
#else
#define FW_PSTR(s) (s)
#define FW_PGM_BYTE(p) (*(p))
#endif

#if FW_CHANNELS < 1 || FW_CHANNELS > 6
#error "FW_CHANNELS must be 1..6 (ADC0..ADC5)"
#endif

#define FW_MASK_LEN ((FW_CHANNELS + 7) / 8)
#define FW_SAMPLES_AT (SIO1_DATA_HEADER + FW_MASK_LEN)
#define FW_DATA_LEN (FW_SAMPLES_AT + FW_SAMPLES_PER_FRAME * FW_CHANNELS * 2 + 2)
#define FW_TEXT_MAX 280 /* REPLY/INFO body bytes */
#define FW_TEXT_LEN (1 + FW_TEXT_MAX + 2)
#define FW_WIRE_CAP SIO1_WIRE_MAX(FW_TEXT_LEN > FW_DATA_LEN ? FW_TEXT_LEN : FW_DATA_LEN)
#define FW_RX_RING 64 /* power of two; a full command line fits */
/* Only this much of a line is kept: every valid command is shorter, and the
 * rest is just counted to tell "unknown" from "too long". */
#define FW_LINE_KEEP 16

enum {
    PEND_BOOT_ZERO = 1,  /* the start-up 0x00 that flushes a receiver */
    PEND_BOOT_INFO = 2,  /* the INFO frame after power-up */
    PEND_OK_INFO = 4,    /* OK after an INFO frame */
    PEND_OK_STOP = 8     /* OK once the sampler has flushed its last frame */
};

/* sampler state, written by the interrupts */
static uint8_t frames[2][FW_DATA_LEN];
static volatile uint8_t frame_full[2];
static uint8_t fill;      /* buffer the sampler writes */
static uint8_t rows;      /* complete sample rows in it */
static uint8_t next_ch;   /* channel the ADC converts */
static uint8_t row_busy;  /* a row's conversions are under way */
static uint8_t split;     /* a tick was missed: close the frame after this row */
static uint8_t discard;   /* this frame has no buffer: count it, drop it */
static uint16_t seq;
static volatile uint8_t streaming, test_mode, stop_req;

/* main-loop state */
static uint8_t send_idx;  /* next frame buffer to send, in fill order */
static uint8_t pending;
static uint16_t rate;
static uint8_t text[FW_TEXT_LEN];
static uint16_t text_len; /* decoded frame bytes waiting in text, 0 = none */
static uint8_t text_overflow;

/* transmit */
static uint8_t wire[FW_WIRE_CAP];
static uint16_t tx_len, tx_pos;
static volatile uint8_t tx_busy;

/* receive */
static uint8_t rx_ring[FW_RX_RING];
static volatile uint8_t rx_head, rx_lost;
static uint8_t rx_tail;
static char line[FW_LINE_KEEP];
static uint8_t line_len; /* bytes of the line so far, saturating at 255 */

/* ---- sampler (interrupt context) ---- */

static void frame_open(uint32_t t_us)
{
    uint8_t *f = frames[fill];
    discard = frame_full[fill];
    if (discard)
        return;
    f[0] = SIO1_TYPE_DATA;
    f[1] = 0; /* stream */
    f[2] = SIO1_ENC_U16;
    f[3] = FW_CHANNELS;
    f[4] = FW_SAMPLES_PER_FRAME;
    f[5] = (uint8_t)seq;
    f[6] = (uint8_t)(seq >> 8);
    f[7] = (uint8_t)t_us;
    f[8] = (uint8_t)(t_us >> 8);
    f[9] = (uint8_t)(t_us >> 16);
    f[10] = (uint8_t)(t_us >> 24);
    for (uint8_t i = 0; i < FW_MASK_LEN; i++)
        f[SIO1_DATA_HEADER + i] = 0; /* no lead-off detection on this board */
}

static void frame_close(void)
{
    if (!rows)
        return;
    if (!discard) {
        frames[fill][4] = rows;
        frame_full[fill] = 1;
        fill ^= 1;
    }
    discard = 0;
    seq++;
    rows = 0;
}

static void sample_put(uint8_t ch, uint16_t code)
{
    if (discard)
        return;
    uint8_t *p = frames[fill] + FW_SAMPLES_AT + ((uint16_t)rows * FW_CHANNELS + ch) * 2u;
    p[0] = (uint8_t)code;
    p[1] = (uint8_t)(code >> 8);
}

static void row_done(void)
{
    rows++;
    if (rows == FW_SAMPLES_PER_FRAME || split) {
        frame_close();
        split = 0;
    }
}

int8_t fw_tick(uint32_t t_us)
{
    if (!streaming)
        return -1;
    if (row_busy) {
        /* The last row is still converting (rate beyond the ADC): skip this
         * tick and end the frame after that row, so every frame's samples
         * stay evenly spaced from its t_us and the skip shows as a gap. */
        split = 1;
        return -1;
    }
    if (stop_req) {
        frame_close();
        streaming = 0;
        stop_req = 0;
        return -1;
    }
    if (!rows)
        frame_open(t_us);
    if (test_mode) {
        uint16_t half_us = (uint16_t)(500000UL / FW_TEST_HZ);
        uint16_t code = ((t_us / half_us) & 1u) ? FW_ZERO_CODE - FW_TEST_COUNTS
                                                  : FW_ZERO_CODE + FW_TEST_COUNTS;
        for (uint8_t ch = 0; ch < FW_CHANNELS; ch++)
            sample_put(ch, code);
        row_done();
        return -1;
    }
    row_busy = 1;
    next_ch = 0;
    return 0;
}

int8_t fw_adc_done(uint16_t code)
{
    if (!row_busy)
        return -1;
    sample_put(next_ch, code);
    if (++next_ch < FW_CHANNELS)
        return (int8_t)next_ch;
    row_busy = 0;
    row_done();
    return -1;
}

/* ---- UART (interrupt context) ---- */

void fw_rx_byte(uint8_t byte)
{
    uint8_t next = (uint8_t)((rx_head + 1u) & (FW_RX_RING - 1u));
    if (next == rx_tail) {
        rx_lost = 1; /* the line it belongs to is answered with ERR */
        return;
    }
    rx_ring[rx_head] = byte;
    rx_head = next;
}

void fw_rx_lost(void)
{
    rx_lost = 1;
}

uint8_t fw_tx_next(uint8_t *byte)
{
    if (!tx_busy)
        return 0;
    *byte = wire[tx_pos++];
    if (tx_pos >= tx_len)
        tx_busy = 0; /* the main loop may refill wire now */
    return 1;
}

/* ---- text frames (main loop) ---- */

static void text_begin(uint8_t type)
{
    text[0] = type;
    text_len = 1;
    text_overflow = 0;
}

static void put_char(char c)
{
    if (text_len < 1 + FW_TEXT_MAX)
        text[text_len++] = (uint8_t)c;
    else
        text_overflow = 1;
}

/* s is in flash on the AVR (FW_PSTR). */
static void put_pstr(const char *s)
{
    char c;
    while ((c = (char)FW_PGM_BYTE(s++)) != 0)
        put_char(c);
}

static void put_u32(uint32_t v)
{
    char digits[10];
    uint8_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        put_char(digits[--n]);
}

/* num/den as a decimal with up to 9 fraction digits (exact when it
 * terminates, as 5e6/1024/gain does for gains 2^a 5^b); den < 2^32 / 10. */
static void put_ratio(uint32_t num, uint32_t den)
{
    put_u32(num / den);
    uint32_t rem = num % den;
    if (!rem)
        return;
    char digits[9];
    uint8_t n = 0;
    while (rem && n < 9) {
        rem *= 10u;
        digits[n++] = (char)('0' + rem / den);
        rem %= den;
    }
    while (n && digits[n - 1] == '0')
        n--;
    put_char('.');
    for (uint8_t i = 0; i < n; i++)
        put_char(digits[i]);
}

static void reply_p(const char *msg)
{
    text_begin(SIO1_TYPE_REPLY);
    put_pstr(msg);
    text_len += 2; /* room for the CRC */
}

static void build_info(void)
{
    const uint32_t den = FW_ADC_CODES * (uint32_t)FW_GAIN;
    text_begin(SIO1_TYPE_INFO);
    put_pstr(FW_PSTR("{\"device\":\"" FW_DEVICE "\",\"serial\":\"" FW_SERIAL "\",\"fw\":\"" FW_VERSION
                     "\",\"streams\":[{\"id\":0,\"name\":\"emg\",\"channels\":"));
    put_u32(FW_CHANNELS);
    put_pstr(FW_PSTR(",\"rate_hz\":"));
    put_u32(rate);
    put_pstr(FW_PSTR(",\"enc\":4,\"unit\":\"uV\",\"scale\":"));
    put_ratio(FW_VREF_UV, den);
    put_pstr(FW_PSTR(",\"zero\":"));
    put_u32(FW_ZERO_CODE);
    put_pstr(FW_PSTR(",\"min_code\":0,\"max_code\":"));
    put_u32(FW_ADC_CODES - 1u);
    put_pstr(FW_PSTR(",\"gain\":"));
    put_u32(FW_GAIN);
    put_pstr(FW_PSTR("}],\"test_uv\":"));
    put_ratio(FW_TEST_COUNTS * FW_VREF_UV, den);
    put_pstr(FW_PSTR(",\"test_hz\":"));
    put_u32(FW_TEST_HZ);
    put_char('}');
    if (text_overflow)
        reply_p(FW_PSTR("ERR INFO does not fit (serial too long?)"));
    else
        text_len += 2;
}

/* ---- commands (main loop) ---- */

static uint8_t line_is(const char *cmd_p)
{
    uint8_t i = 0;
    for (; i < line_len; i++)
        if ((char)FW_PGM_BYTE(cmd_p + i) != line[i])
            return 0;
    return FW_PGM_BYTE(cmd_p + i) == 0;
}

static uint8_t rate_ok(uint32_t hz)
{
    return hz >= FW_RATE_MIN && hz <= FW_RATE_MAX && FW_TIMER_HZ % hz == 0;
}

static void command_rate(void)
{
    uint32_t hz = 0;
    uint8_t i = 5;
    if (i >= line_len)
        hz = UINT32_MAX;
    for (; i < line_len; i++) {
        char c = line[i];
        if (c < '0' || c > '9' || hz > 100000u) {
            hz = UINT32_MAX;
            break;
        }
        hz = hz * 10u + (uint32_t)(c - '0');
    }
    if (streaming) {
        reply_p(FW_PSTR("ERR streaming, send STOP first"));
    } else if (!rate_ok(hz)) {
        text_begin(SIO1_TYPE_REPLY);
        put_pstr(FW_PSTR("ERR unsupported rate: "));
        put_u32(FW_RATE_MIN);
        put_pstr(FW_PSTR(".."));
        put_u32(FW_RATE_MAX);
        put_pstr(FW_PSTR(" Hz dividing "));
        put_u32(FW_TIMER_HZ);
        text_len += 2;
    } else {
        rate = (uint16_t)hz;
        fw_hal_irq_off();
        fw_hal_set_rate(rate);
        fw_hal_irq_on();
        reply_p(FW_PSTR("OK"));
    }
}

static void command(uint8_t lost)
{
    while (line_len && line_len <= FW_LINE_KEEP && line[line_len - 1] == ' ')
        line_len--;
    if (lost) {
        reply_p(FW_PSTR("ERR input lost, line dropped"));
    } else if (line_len > SIO1_MAX_CMD_LINE) {
        reply_p(FW_PSTR("ERR line too long"));
    } else if (!line_len) {
        return; /* blank lines are ignored */
    } else if (line_len > FW_LINE_KEEP) {
        reply_p(FW_PSTR("ERR unknown command"));
    } else if (line_is(FW_PSTR("INFO"))) {
        build_info();
        pending |= PEND_OK_INFO;
    } else if (line_is(FW_PSTR("START"))) {
        fw_hal_irq_off();
        if (!streaming) {
            rows = 0;
            row_busy = 0;
            split = 0;
            discard = 0;
            streaming = 1;
        }
        stop_req = 0;
        fw_hal_irq_on();
        reply_p(FW_PSTR("OK"));
    } else if (line_is(FW_PSTR("STOP"))) {
        fw_hal_irq_off();
        if (streaming)
            stop_req = 1;
        fw_hal_irq_on();
        pending |= PEND_OK_STOP; /* after the last frame has been handed over */
    } else if (line_len >= 5 && line[0] == 'R' && line[1] == 'A' && line[2] == 'T' &&
               line[3] == 'E' && line[4] == ' ') {
        command_rate();
    } else if (line_is(FW_PSTR("TEST ON"))) {
        test_mode = 1;
        reply_p(FW_PSTR("OK"));
    } else if (line_is(FW_PSTR("TEST OFF"))) {
        test_mode = 0;
        reply_p(FW_PSTR("OK"));
    } else {
        reply_p(FW_PSTR("ERR unknown command"));
    }
}

/* Consumes received bytes up to the end of one line; 1 if a line ended. */
static uint8_t read_line(uint8_t *lost)
{
    while (rx_tail != rx_head) {
        uint8_t b = rx_ring[rx_tail];
        rx_tail = (uint8_t)((rx_tail + 1u) & (FW_RX_RING - 1u));
        if (b == '\r')
            continue;
        if (b == '\n') {
            fw_hal_irq_off();
            *lost = rx_lost;
            rx_lost = 0;
            fw_hal_irq_on();
            return 1;
        }
        if (line_len < FW_LINE_KEEP)
            line[line_len] = (char)b;
        if (line_len < 255)
            line_len++;
    }
    return 0;
}

/* ---- main loop ---- */

static void send(uint8_t *frame, uint16_t len)
{
    tx_len = (uint16_t)sio1_finish_frame(frame, len, wire, sizeof wire);
    tx_pos = 0;
    if (!tx_len)
        return; /* cannot happen: buffers are sized for the largest frame */
    tx_busy = 1;
    fw_hal_tx_start();
}

uint8_t fw_poll(void)
{
    if (!tx_busy) {
        if (pending & PEND_BOOT_ZERO) {
            pending &= (uint8_t)~PEND_BOOT_ZERO;
            wire[0] = 0;
            tx_len = 1;
            tx_pos = 0;
            tx_busy = 1;
            fw_hal_tx_start();
            return 1;
        }
        /* samples first: they are the time-critical data */
        if (frame_full[send_idx]) {
            uint8_t *f = frames[send_idx];
            send(f, (uint16_t)sio1_data_frame_len(SIO1_ENC_U16, FW_CHANNELS, f[4]));
            frame_full[send_idx] = 0;
            send_idx ^= 1;
            return 1;
        }
        if (text_len) {
            send(text, text_len);
            text_len = 0;
            return 1;
        }
    }
    if (text_len)
        return 0; /* the one text slot is taken: commands wait */
    if (pending & PEND_BOOT_INFO) {
        pending &= (uint8_t)~PEND_BOOT_INFO;
        build_info();
        return 1;
    }
    if (pending & PEND_OK_INFO) {
        pending &= (uint8_t)~PEND_OK_INFO;
        reply_p(FW_PSTR("OK"));
        return 1;
    }
    if (pending & PEND_OK_STOP) {
        /* OK goes out after the flushed last frame, which the sender
         * takes first: the host has all samples when it reads OK. */
        if (stop_req || frame_full[0] || frame_full[1])
            return 0;
        pending &= (uint8_t)~PEND_OK_STOP;
        reply_p(FW_PSTR("OK"));
        return 1;
    }
    uint8_t lost = 0;
    if (read_line(&lost)) {
        command(lost);
        line_len = 0;
        return 1;
    }
    return 0;
}

uint8_t fw_idle(void)
{
    if (rx_tail != rx_head || pending & (PEND_BOOT_ZERO | PEND_BOOT_INFO | PEND_OK_INFO))
        return 0;
    if (pending & PEND_OK_STOP && !stop_req && !frame_full[0] && !frame_full[1])
        return 0;
    if (!tx_busy && (frame_full[send_idx] || text_len))
        return 0;
    return 1;
}

void fw_init(void)
{
    rate = FW_RATE_DEFAULT;
    fw_hal_set_rate(rate);
    pending = PEND_BOOT_ZERO | PEND_BOOT_INFO;
}

uint16_t fw_rate_hz(void)
{
    return rate;
}

uint8_t fw_streaming(void)
{
    return streaming;
}
