/* fw_host.c - host port: the HAL as plain variables, for the unit tests. */
#include "fw_host.h"

#include "../core/fw_core.h"
#include "../core/fw_hal.h"

uint16_t fw_host_rate_hz;
int fw_host_irq_masked;

void fw_hal_irq_off(void)
{
    fw_host_irq_masked = 1;
}

void fw_hal_irq_on(void)
{
    fw_host_irq_masked = 0;
}

void fw_hal_tx_start(void)
{
}

void fw_hal_set_rate(uint16_t hz)
{
    fw_host_rate_hz = hz;
}

void fw_host_settle(void)
{
    for (int i = 0; i < 1000 && fw_poll(); i++)
        ;
}

size_t fw_host_drain(uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        fw_host_settle();
        uint8_t b;
        if (n == cap || !fw_tx_next(&b))
            break;
        out[n++] = b;
    }
    return n;
}

void fw_host_send(const char *text)
{
    while (*text) {
        fw_rx_byte((uint8_t)*text++);
        fw_host_settle();
    }
}

int fw_host_tick(uint32_t t_us, const uint16_t *codes)
{
    int n = 0;
    int8_t ch = fw_tick(t_us);
    while (ch >= 0) {
        n++;
        ch = fw_adc_done(codes[ch]);
    }
    return n;
}
