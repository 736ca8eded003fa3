/* simavr_bridge - runs a sensorio firmware image in simavr and makes the
 * simulated board look like a real one on a pseudo-terminal.
 *
 *   simavr_bridge [options] FIRMWARE.elf
 *
 * The UART0 byte stream goes both ways through the pty's master side; the
 * pty's slave path is printed on stdout (and linked from --link PATH).
 * The ADC inputs come from a waveform in millivolts at the pins.
 *
 * Why the ADC is driven the way it is: simavr (1.6 to current) converts a
 * pin voltage as Vin * 1023 / Vref, and in 1.6 it reads the voltage when
 * the firmware reads ADCL, not at the sample-and-hold instant. The real
 * ATmega328P gives ADC = Vin * 1024 / Vref (datasheet, "ADC Conversion
 * Result"), truncated and limited to 0..1023, sampled at conversion start.
 * So the bridge applies the datasheet transfer function itself at the start
 * of each conversion (simavr's trigger IRQ) and hands simavr the code with
 * AVcc set to 1023 "mV", which simavr's scaling passes through unchanged.
 *
 * Flow control, so no byte is ever lost between the simulated UART and the
 * pty: bytes from the host enter the UART's receive FIFO only while simavr
 * says it has room (its XON/XOFF IRQs); bytes from the firmware are queued
 * and the simulation pauses while the queue is above a high-water mark
 * (nobody reading the pty), exactly as if the board's clock stopped.
 * Simulated time follows the wall clock (--fast: as fast as possible);
 * if the simulation falls behind by more than 50 ms it drops the backlog
 * instead of racing to catch up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <avr_adc.h>
#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_irq.h>

#define N_CH 8
#define OUT_CAP (1u << 20)   /* firmware -> host queue */
#define OUT_HIGH (64u << 10) /* default: pause the simulation above this */
#define IN_CAP 4096          /* host -> firmware queue */

typedef enum { SIG_CONST, SIG_SINE, SIG_WAVE } signal_kind;

static struct {
    signal_kind kind;
    double const_mv[N_CH];
    double sine_offset_mv, sine_amp_mv, sine_hz;
    int32_t *wave_uv; /* rows x cols */
    size_t wave_rows, wave_cols;
    double wave_rate;
    uint32_t vref_uv;
} sig;

static avr_t *avr;
static avr_irq_t *adc_in[N_CH];
static avr_irq_t *uart_in;
static FILE *truth;
static int rx_blocked = 1; /* until the firmware enables its receiver */

static uint8_t out_q[OUT_CAP];
static size_t out_head, out_len; /* ring */
static uint8_t in_q[IN_CAP];
static size_t in_pos, in_len;
static size_t out_high = OUT_HIGH;
static uint64_t bytes_to_host, bytes_from_host, conversions, pauses;
static FILE *path_out;      /* our stdout: the pty path, then pause reports */
static int report_pauses;
static int overflow_abort;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig_no)
{
    (void)sig_no;
    stop_requested = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "simavr_bridge: %s\n", what);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pin voltage of channel ch at simulated cycle, in microvolts. */
static int64_t signal_uv(unsigned ch, avr_cycle_count_t cycle)
{
    double t = (double)cycle / (double)avr->frequency;
    switch (sig.kind) {
    case SIG_CONST:
        return llround(sig.const_mv[ch] * 1000.0);
    case SIG_SINE: {
        /* channel k lags by k/8 of a cycle, so swapped channels show */
        double phase = 2.0 * M_PI * (sig.sine_hz * t + (double)ch / 8.0);
        return llround((sig.sine_offset_mv + sig.sine_amp_mv * sin(phase)) * 1000.0);
    }
    case SIG_WAVE: {
        uint64_t row = (uint64_t)((double)cycle * sig.wave_rate / (double)avr->frequency);
        size_t col = ch < sig.wave_cols ? ch : sig.wave_cols - 1;
        return sig.wave_uv[(row % sig.wave_rows) * sig.wave_cols + col];
    }
    }
    return 0;
}

/* ATmega328P datasheet: ADC = Vin * 1024 / Vref, truncated, 0..1023. */
static uint32_t datasheet_code(int64_t uv)
{
    if (uv <= 0)
        return 0;
    int64_t code = uv * 1024 / (int64_t)sig.vref_uv;
    return code > 1023 ? 1023u : (uint32_t)code;
}

static void on_adc_trigger(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    union {
        avr_adc_mux_t mux;
        uint32_t v;
    } e = {.v = value};
    if (e.mux.kind != ADC_MUX_SINGLE || e.mux.src >= N_CH)
        return; /* temperature, bandgap, differential: left to simavr */
    unsigned ch = e.mux.src;
    int64_t uv = signal_uv(ch, avr->cycle);
    avr_raise_irq(adc_in[ch], datasheet_code(uv));
    conversions++;
    if (truth)
        fprintf(truth, "{\"cycle\":%llu,\"ch\":%u,\"uv\":%lld}\n", (unsigned long long)avr->cycle, ch,
                (long long)uv);
}

static void on_uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (out_len == OUT_CAP) {
        overflow_abort = 1; /* cannot happen below OUT_HIGH pacing; never drop silently */
        return;
    }
    out_q[(out_head + out_len) % OUT_CAP] = (uint8_t)value;
    out_len++;
}

static void on_uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (value)
        rx_blocked = 0;
}

static void on_uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    rx_blocked = value != 0;
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    /* simavr's default sleeps in real time here; the main loop paces */
    (void)a;
    (void)how_long;
}

static void parse_mv_list(const char *s)
{
    char *end;
    unsigned n = 0;
    double v = 0;
    while (n < N_CH && *s) {
        v = strtod(s, &end);
        if (end == s)
            die("--mv wants millivolts separated by commas, e.g. 2500 or 100,2500,4900");
        sig.const_mv[n++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            die("--mv wants millivolts separated by commas");
    }
    for (; n < N_CH; n++)
        sig.const_mv[n] = v; /* the last value repeats */
}

static void parse_sine(const char *s)
{
    if (sscanf(s, "%lf,%lf,%lf", &sig.sine_offset_mv, &sig.sine_amp_mv, &sig.sine_hz) != 3)
        die("--sine wants OFFSET_MV,AMPLITUDE_MV,HZ, e.g. 2500,2000,50");
}

/* Text file: one line per sample, one column (mV) per channel, separated by
 * blanks or commas; lines starting with # are comments. */
static void load_wave(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    sig.wave_uv = malloc(cap * sizeof *sig.wave_uv);
    char line[4096];
    size_t cols = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p)
            continue;
        size_t c = 0;
        for (;;) {
            char *end;
            double v = strtod(p, &end);
            if (end == p)
                break;
            if (n + 1 > cap) {
                cap *= 2;
                sig.wave_uv = realloc(sig.wave_uv, cap * sizeof *sig.wave_uv);
            }
            if (!sig.wave_uv)
                die("out of memory reading --wave");
            sig.wave_uv[n++] = (int32_t)llround(v * 1000.0);
            c++;
            p = end;
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
        }
        if (!c)
            die("--wave: a line is not a list of numbers");
        if (cols && c != cols)
            die("--wave: every line needs the same number of columns");
        cols = c;
    }
    fclose(f);
    if (!cols)
        die("--wave: the file has no samples");
    sig.wave_cols = cols;
    sig.wave_rows = n / cols;
}

/* simavr's messages go to stderr: stdout carries only the pty path. */
static void log_to_stderr(avr_t *a, const int level, const char *fmt, va_list ap)
{
    if (level > (a ? a->log : LOG_WARNING))
        return;
    vfprintf(stderr, fmt, ap);
}

static int open_pty(const char *link_path, int *slave_fd, FILE *out)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master))
        die("cannot create a pseudo-terminal");
    const char *name = ptsname(master);
    if (!name)
        die("cannot name the pseudo-terminal");
    /* Holding the slave open keeps the pty alive between clients; raw mode
     * before the first byte, or the line discipline would echo the board's
     * output back to it and translate bytes. */
    *slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0)
        die("cannot open the pseudo-terminal's slave side");
    struct termios tio;
    if (tcgetattr(*slave_fd, &tio))
        die("tcgetattr failed on the pseudo-terminal");
    cfmakeraw(&tio);
    if (tcsetattr(*slave_fd, TCSANOW, &tio))
        die("tcsetattr failed on the pseudo-terminal");
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    if (link_path) {
        unlink(link_path);
        if (symlink(name, link_path)) {
            perror(link_path);
            exit(2);
        }
    }
    fprintf(out, "%s\n", name);
    fflush(out);
    return master;
}

static void usage(void)
{
    fputs("usage: simavr_bridge [options] FIRMWARE.elf\n"
          "  --mcu NAME          AVR model if the ELF does not say (atmega328p)\n"
          "  --freq HZ           clock (16000000)\n"
          "  --vref MV           ADC reference, AVcc (5000)\n"
          "  --mv MV[,MV...]     constant pin voltages per channel (default 2500)\n"
          "  --sine OFF,AMP,HZ   sine in mV on every channel, channel k delayed k/8 cycle\n"
          "  --wave FILE         pin voltages from a text file, one line per sample,\n"
          "                      one column (mV) per channel; --wave-rate HZ (1000), looped\n"
          "  --truth FILE        JSON lines: every conversion (cycle, ch, uv at the pin)\n"
          "  --link PATH         symlink to the pty, a stable path for clients\n"
          "  --fast              run as fast as possible instead of in real time\n"
          "  --queue BYTES       pause the board while this much output is unread (65536)\n"
          "  --seconds S         stop after S simulated seconds\n"
          "  --report-pauses     print \"paused\" on stdout each time the board pauses\n"
          "                      for the host (tests wait for it instead of a fixed time)\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p", *link_path = NULL, *truth_path = NULL, *wave_path = NULL;
    uint32_t freq = 16000000;
    double vref_mv = 5000, seconds = 0;
    int fast = 0;
    sig.kind = SIG_CONST;
    sig.wave_rate = 1000;
    parse_mv_list("2500");
    static const struct option opts[] = {
        {"mcu", required_argument, 0, 'm'},   {"freq", required_argument, 0, 'f'},
        {"vref", required_argument, 0, 'r'},  {"mv", required_argument, 0, 'c'},
        {"sine", required_argument, 0, 's'},  {"wave", required_argument, 0, 'w'},
        {"wave-rate", required_argument, 0, 'R'}, {"truth", required_argument, 0, 't'},
        {"link", required_argument, 0, 'l'},  {"fast", no_argument, 0, 'F'},
        {"seconds", required_argument, 0, 'S'}, {"queue", required_argument, 0, 'q'},
        {"report-pauses", no_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm': mcu = optarg; break;
        case 'f': freq = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'r': vref_mv = strtod(optarg, NULL); break;
        case 'c': sig.kind = SIG_CONST; parse_mv_list(optarg); break;
        case 's': sig.kind = SIG_SINE; parse_sine(optarg); break;
        case 'w': sig.kind = SIG_WAVE; wave_path = optarg; break;
        case 'R': sig.wave_rate = strtod(optarg, NULL); break;
        case 't': truth_path = optarg; break;
        case 'l': link_path = optarg; break;
        case 'F': fast = 1; break;
        case 'S': seconds = strtod(optarg, NULL); break;
        case 'q': out_high = (size_t)strtoul(optarg, NULL, 10); break;
        case 'P': report_pauses = 1; break;
        default: usage();
        }
    }
    if (optind != argc - 1)
        usage();
    if (freq == 0 || vref_mv <= 0 || sig.wave_rate <= 0)
        die("--freq, --vref and --wave-rate must be positive");
    if (out_high < 1 || out_high > OUT_CAP / 2)
        die("--queue must be 1..524288 bytes");
    sig.vref_uv = (uint32_t)llround(vref_mv * 1000.0);
    if (wave_path)
        load_wave(wave_path);

    /* Some simavr versions print with printf: keep our stdout for the path. */
    fflush(stdout);
    path_out = fdopen(dup(STDOUT_FILENO), "w");
    if (!path_out || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
        die("cannot set up stdout");
    avr_global_logger_set(log_to_stderr);

    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[optind], &fw))
        die("cannot read the firmware ELF (build it with make -C firmware)");
    if (!fw.mmcu[0])
        snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (!avr)
        die("simavr does not know this MCU");
    avr_init(avr);
    avr->log = LOG_WARNING;
    fw.frequency = freq;
    avr_load_firmware(avr, &fw);
    avr->frequency = freq;
    avr->vcc = avr->aref = (uint32_t)llround(vref_mv);
    avr->avcc = 1023; /* the pass-through described at the top */
    avr->sleep = no_sleep;

    for (int i = 0; i < N_CH; i++)
        adc_in[i] = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + i);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER),
                            on_adc_trigger, NULL);
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            on_uart_out, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            on_uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            on_uart_xoff, NULL);
    if (!adc_in[0] || !uart_in)
        die("this MCU has no ADC or UART0 in simavr");

    if (truth_path) {
        truth = fopen(truth_path, "w");
        if (!truth) {
            perror(truth_path);
            exit(2);
        }
        setvbuf(truth, NULL, _IOFBF, 1 << 16);
        fprintf(truth, "{\"freq\":%u,\"vref_uv\":%u,\"mcu\":\"%s\"}\n", freq, sig.vref_uv, fw.mmcu);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int slave_fd;
    int master = open_pty(link_path, &slave_fd, path_out);

    const avr_cycle_count_t slice = freq / 1000;      /* 1 ms between I/O checks */
    const avr_cycle_count_t max_lag = freq / 20;      /* 50 ms */
    const avr_cycle_count_t end_cycle = seconds > 0 ? (avr_cycle_count_t)(seconds * freq) : 0;
    uint64_t wall0 = now_ns(), wall_start = wall0;
    avr_cycle_count_t cycle0 = avr->cycle;
    int status = 0, was_paused = 0;

    while (!stop_requested) {
        if (overflow_abort)
            die("internal error: output queue overflow");
        /* how far simulated time may go */
        avr_cycle_count_t limit;
        if (fast) {
            limit = avr->cycle + slice;
        } else {
            uint64_t el = now_ns() - wall0;
            limit = cycle0 + (avr_cycle_count_t)((double)el * freq / 1e9);
            if (limit > avr->cycle + max_lag) { /* behind: drop the backlog */
                wall0 = now_ns();
                cycle0 = avr->cycle;
                limit = avr->cycle + slice;
            }
            if (limit > avr->cycle + slice)
                limit = avr->cycle + slice;
        }
        if (end_cycle && limit > end_cycle)
            limit = end_cycle;
        int ran = 0;
        int paused = out_len >= out_high;
        if (paused && !was_paused) {
            pauses++; /* a new stretch of the host not reading */
            if (report_pauses) {
                fputs("paused\n", path_out);
                fflush(path_out);
            }
        }
        was_paused = paused;
        while (avr->cycle < limit && out_len < out_high) {
            int state = avr_run(avr);
            ran = 1;
            if (state == cpu_Done || state == cpu_Crashed) {
                fprintf(stderr, "simavr_bridge: the firmware stopped (%s) at cycle %llu\n",
                        state == cpu_Done ? "sleep with interrupts off" : "crash",
                        (unsigned long long)avr->cycle);
                status = 1;
                stop_requested = 1;
                break;
            }
        }
        if (end_cycle && avr->cycle >= end_cycle && !out_len)
            break;
        /* host -> UART, only while the receive FIFO has room */
        while (in_pos < in_len && !rx_blocked) {
            avr_raise_irq(uart_in, in_q[in_pos++]);
            bytes_from_host++;
        }
        if (in_pos == in_len)
            in_pos = in_len = 0;

        struct pollfd pfd = {.fd = master, .events = 0};
        if (in_len < IN_CAP)
            pfd.events |= POLLIN;
        if (out_len)
            pfd.events |= POLLOUT;
        int timeout = 0;
        if (out_len >= out_high)
            timeout = 50; /* paused until the host reads */
        else if (!fast && !ran)
            timeout = 1;  /* ahead of the wall clock */
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
            die("poll failed");
        if (pfd.revents & POLLIN) {
            ssize_t n = read(master, in_q + in_len, IN_CAP - in_len);
            if (n > 0)
                in_len += (size_t)n;
        }
        if (pfd.revents & POLLOUT) {
            while (out_len) {
                size_t chunk = out_len;
                if (out_head + chunk > OUT_CAP)
                    chunk = OUT_CAP - out_head;
                ssize_t n = write(master, out_q + out_head, chunk);
                if (n <= 0)
                    break;
                out_head = (out_head + (size_t)n) % OUT_CAP;
                out_len -= (size_t)n;
                bytes_to_host += (uint64_t)n;
            }
        }
    }

    if (truth)
        fclose(truth);
    if (link_path)
        unlink(link_path);
    double sim_s = (double)avr->cycle / freq, wall_s = (double)(now_ns() - wall_start) / 1e9;
    fprintf(stderr,
            "simavr_bridge: %.3f s simulated in %.3f s, %llu bytes to the host (%zu unsent), "
            "%llu from it, %llu conversions, paused %llu times for the host\n",
            sim_s, wall_s, (unsigned long long)bytes_to_host, out_len,
            (unsigned long long)bytes_from_host, (unsigned long long)conversions,
            (unsigned long long)pauses);
    close(master);
    close(slave_fd);
    return status;
}
