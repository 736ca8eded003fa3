/* sio_fmt_ascii.c - text lines of numbers, as an Arduino prints them:
 *   "512,498,503"  "512 498 503"  "512\t498"  "a:512,b:498" (Serial Plotter)
 * A line ends at CR or LF (so CRLF, LF and CR all work; the empty line
 * between CR and LF is idle filler). Separators are runs of comma, tab,
 * space or semicolon; a trailing separator is allowed. A token may carry a
 * "label:" prefix. Every line is one frame of one row on stream 0.
 *
 * Values: every line is booked with enc SIO_ENC_F32 (the int32 slots hold
 * float32 bit patterns), integers and decimals alike. One type for the whole
 * stream: a device that prints "512" and then "512.5" (or %g, which drops
 * ".0") is one signal, which a change of type mid-stream would split (a
 * capture stopped and a recording unreadable). float32 holds every integer
 * up to 2^24 exactly, any ADC's codes; larger ones round to 24 bits.
 *
 * The channel count is given, or learnt from the first two consecutive good
 * lines that agree (a line joined mid-way is dropped as resync). Lines with
 * another count, or with text that is not a number, are malformed; lines
 * longer than max_line are oversized; both are counted and skipped. There
 * is no counter: frame seq and time are the index of the accepted line. */
#include "sio_parser.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TOKEN = 64 };

void sio_fmt_ascii_reset(sio_fmt_ascii *s)
{
    s->n_ch = s->given_ch;
    s->skip_line = 0;
    s->oversized = 0;
    s->line_len = 0;
    s->lines = 0;
    s->held = 0;
    s->pending = 0;
}

int sio_fmt_ascii_configure(sio_parser *p, uint32_t n_ch, uint32_t max_line)
{
    if (p->format != SIO_FMT_ASCII || n_ch > SIO_ASCII_MAX_CH || max_line < 2 ||
        max_line > SIO_ASCII_MAX_LINE)
        return -1;
    sio_fmt_ascii *s = &p->fmt.ascii;
    s->given_ch = n_ch;
    s->max_line = max_line;
    sio_fmt_ascii_reset(s);
    return 0;
}

size_t sio_fmt_ascii_pending_bytes(const sio_fmt_ascii *s)
{
    return (s->oversized || s->skip_line ? 0 : s->line_len) + (s->held ? s->held_wire : 0) +
           (s->pending ? s->pending_wire : 0);
}

void sio_fmt_ascii_discontinuity(sio_parser *p)
{
    sio_fmt_ascii *s = &p->fmt.ascii;
    if (!s->oversized && !s->skip_line)
        p->stats.bytes_resync += s->line_len;
    s->line_len = 0;
    s->oversized = 0;
    s->skip_line = 1; /* the next line starts mid-way */
    if (s->held && !s->n_ch) {
        p->stats.bytes_resync += s->held_wire;
        s->held = 0;
    }
}

static inline int is_sep(unsigned char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == ';';
}

static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* Parses one number token t[0..n). Returns 1 for an int32 (*iv), 2 for
 * another number (*dv), 0 if it is not a number. */
static int parse_number(const char *t, size_t n, int32_t *iv, double *dv)
{
    size_t k = 0;
    int neg = 0;
    if (k < n && (t[k] == '+' || t[k] == '-'))
        neg = t[k++] == '-';
    size_t rest = n - k;
    if ((rest == 3 && (memcmp(t + k, "nan", 3) == 0 || memcmp(t + k, "NaN", 3) == 0)) ||
        (rest == 3 && (memcmp(t + k, "inf", 3) == 0 || memcmp(t + k, "Inf", 3) == 0))) {
        double v = t[k] == 'n' || t[k] == 'N' ? (double)NAN : (double)INFINITY;
        *dv = neg ? -v : v;
        return 2;
    }
    uint64_t mant = 0;
    int digits = 0, exp10 = 0, any = 0, is_int = 1;
    for (; k < n && t[k] >= '0' && t[k] <= '9'; k++, any = 1) {
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(t[k] - '0');
            if (mant)
                digits++;
        } else {
            exp10++;
        }
    }
    if (k < n && t[k] == '.') {
        is_int = 0;
        for (k++; k < n && t[k] >= '0' && t[k] <= '9'; k++, any = 1) {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(t[k] - '0');
                if (mant)
                    digits++;
                exp10--;
            }
        }
    }
    if (!any)
        return 0;
    if (k < n && (t[k] == 'e' || t[k] == 'E')) {
        is_int = 0;
        k++;
        int eneg = 0, e = 0, edigits = 0;
        if (k < n && (t[k] == '+' || t[k] == '-'))
            eneg = t[k++] == '-';
        for (; k < n && t[k] >= '0' && t[k] <= '9'; k++, edigits++)
            if (e < 100000)
                e = e * 10 + (t[k] - '0');
        if (!edigits)
            return 0;
        exp10 += eneg ? -e : e;
    }
    if (k != n)
        return 0;
    if (is_int && exp10 == 0 && mant <= (neg ? 2147483648u : 2147483647u)) {
        *iv = neg ? (int32_t)(0 - (uint32_t)mant) : (int32_t)mant;
        return 1;
    }
    double v;
    if (mant < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        /* exact operands, one rounding: correctly rounded (Clinger's fast path) */
        v = exp10 >= 0 ? (double)mant * pow10_exact[exp10] : (double)mant / pow10_exact[-exp10];
    } else {
        char buf[MAX_TOKEN + 1];
        if (n > MAX_TOKEN)
            return 0;
        memcpy(buf, t, n);
        buf[n] = 0;
        v = strtod(buf, NULL);
        *dv = v;
        return 2;
    }
    *dv = neg ? -v : v;
    return 2;
}

/* Parses a line into s->vals (float32 bit patterns). Returns the value
 * count, or -1. */
static int parse_line(sio_fmt_ascii *s, const char *line, size_t len)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_sep((unsigned char)line[i]))
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && !is_sep((unsigned char)line[i]))
            i++;
        const char *tok = line + start;
        size_t tlen = i - start;
        const char *colon = memchr(tok, ':', tlen);
        if (colon) {
            /* Serial Plotter "label:value": the value is after the last colon */
            const char *c;
            while ((c = memchr(colon + 1, ':', (size_t)(tok + tlen - colon - 1))) != NULL)
                colon = c;
            tlen -= (size_t)(colon + 1 - tok);
            tok = colon + 1;
        }
        if (n >= SIO_ASCII_MAX_CH)
            return -1;
        int32_t iv = 0;
        double d = 0;
        int kind = parse_number(tok, tlen, &iv, &d);
        if (!kind)
            return -1;
        float f = kind == 1 ? (float)iv : (float)d;
        memcpy(&s->vals[n], &f, sizeof f);
        n++;
    }
    return n ? n : -1;
}

static int emit_row(sio_parser *p, sio_fmt_ascii *s, const int32_t *vals, uint32_t n_ch, size_t wire)
{
    sio_frame_meta m;
    memset(&m, 0, sizeof m);
    m.stream_id = 0;
    m.n_ch = n_ch;
    m.n_samp = 1;
    m.enc = SIO_ENC_F32;
    m.seq = (uint32_t)s->lines;
    m.seq_modulus = 0;
    m.time = s->lines;
    m.leadoff = 0;
    int32_t *dst = sio_emit_frame(p, &m);
    if (!dst)
        return SIO_FEED_NEED_BLOCK;
    memcpy(dst, vals, n_ch * sizeof *vals);
    s->lines++;
    p->stats.bytes_ok += wire;
    return SIO_FEED_DONE;
}

/* Books what is waiting: a learnt-from line, then the current line. */
static int flush(sio_parser *p, sio_fmt_ascii *s)
{
    if (s->held && s->n_ch) {
        if (emit_row(p, s, s->held_vals, s->held_ch, s->held_wire) != SIO_FEED_DONE)
            return SIO_FEED_NEED_BLOCK;
        s->held = 0;
    }
    if (s->pending) {
        if (emit_row(p, s, s->vals, s->n_ch, s->pending_wire) != SIO_FEED_DONE)
            return SIO_FEED_NEED_BLOCK;
        s->pending = 0;
    }
    return SIO_FEED_DONE;
}

/* A complete line (terminator excluded; wire includes it). */
static int take_line(sio_parser *p, sio_fmt_ascii *s, const char *line, size_t len, size_t wire)
{
    sio_stats *st = &p->stats;
    int n = parse_line(s, line, len);
    if (n < 0 || (s->n_ch && (uint32_t)n != s->n_ch)) {
        st->malformed++;
        st->bytes_malformed += wire;
        return SIO_FEED_DONE;
    }
    if (!s->n_ch) {
        if (s->held && s->held_ch == (uint32_t)n) {
            s->n_ch = (uint32_t)n; /* two lines agree: the count is learnt */
        } else {
            if (s->held)
                st->bytes_resync += s->held_wire;
            memcpy(s->held_vals, s->vals, (size_t)n * sizeof *s->vals);
            s->held = 1;
            s->held_ch = (uint32_t)n;
            s->held_wire = wire;
            return SIO_FEED_DONE;
        }
    }
    s->pending = 1;
    s->pending_wire = wire;
    return flush(p, s);
}

static inline const uint8_t *find_eol(const uint8_t *b, const uint8_t *end)
{
    while (b < end && *b != '\n' && *b != '\r')
        b++;
    return b;
}

int sio_fmt_ascii_feed(sio_parser *p, const uint8_t *data, size_t len, size_t *consumed)
{
    sio_fmt_ascii *s = &p->fmt.ascii;
    sio_stats *st = &p->stats;
    const uint8_t *end = data + len;
    const uint8_t *b = data;
    int status = SIO_FEED_DONE;

    if (!s->max_line)
        s->max_line = 1024; /* not configured: the Python default */
    if (s->held || s->pending) {
        status = flush(p, s);
        if (status != SIO_FEED_DONE) {
            *consumed = 0;
            return status;
        }
    }
    while (b < end) {
        const uint8_t *eol = find_eol(b, end);
        size_t seg = (size_t)(eol - b);
        if (eol == end) {
            /* no terminator yet: keep the partial line */
            if (s->skip_line) {
                st->bytes_resync += seg;
            } else if (s->oversized) {
                st->bytes_oversized += seg;
            } else if (s->line_len + seg > s->max_line) {
                s->oversized = 1;
                st->oversized++;
                st->bytes_oversized += s->line_len + seg;
                s->line_len = 0;
            } else {
                memcpy(s->line + s->line_len, b, seg);
                s->line_len += seg;
            }
            b = end;
            break;
        }
        size_t wire = s->line_len + seg + 1;
        const uint8_t *line_start = b;
        b = eol + 1;
        if (s->skip_line) {
            s->skip_line = 0;
            st->bytes_resync += seg + 1;
            continue;
        }
        if (s->oversized) {
            s->oversized = 0;
            st->bytes_oversized += seg + 1;
            continue;
        }
        if (wire == 1) {
            st->bytes_idle++;
            continue;
        }
        if (wire - 1 > s->max_line) {
            st->oversized++;
            st->bytes_oversized += wire;
            s->line_len = 0;
            continue;
        }
        const char *line = (const char *)line_start;
        if (s->line_len) {
            memcpy(s->line + s->line_len, line_start, seg);
            line = s->line;
        }
        s->line_len = 0;
        status = take_line(p, s, line, wire - 1, wire);
        if (status != SIO_FEED_DONE)
            break;
    }
    st->bytes_in += (size_t)(b - data);
    *consumed = (size_t)(b - data);
    return status;
}

int sio_fmt_ascii_flush(sio_parser *p)
{
    sio_fmt_ascii *s = &p->fmt.ascii;
    int status = flush(p, s);
    if (status != SIO_FEED_DONE)
        return status;
    /* the input ended: a last line without terminator is complete */
    if (s->line_len && !s->skip_line && !s->oversized) {
        size_t n = s->line_len;
        s->line_len = 0;
        status = take_line(p, s, s->line, n, n);
        if (status != SIO_FEED_DONE)
            return status;
    }
    /* and a lone line is all there is to learn the channel count from */
    if (s->held && !s->n_ch) {
        s->n_ch = s->held_ch;
        status = flush(p, s);
    }
    return status;
}
