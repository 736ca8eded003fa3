/* fw_host.h - host port of the firmware core: a test bench that plays the
 * part of the timer, ADC and UART. */
#ifndef FW_HOST_H
#define FW_HOST_H

#include <stddef.h>
#include <stdint.h>

/* What the core asked the hardware to do. */
extern uint16_t fw_host_rate_hz;   /* last fw_hal_set_rate */
extern int fw_host_irq_masked;

/* Runs fw_poll until it has nothing left to do. */
void fw_host_settle(void);
/* Drains up to cap transmitted bytes into out; returns how many. */
size_t fw_host_drain(uint8_t *out, size_t cap);
/* Sends a command line (with its terminator) as UART bytes, then settles. */
void fw_host_send(const char *text);
/* One sample tick at t_us; if the core asks for conversions, answers each
 * channel with codes[ch]. Returns the number of conversions made. */
int fw_host_tick(uint32_t t_us, const uint16_t *codes);

#endif
