/* fw_core.h - the portable part of the reference firmware: sample
 * scheduler, SIO-1 frame builder and command parser. A port calls these
 * from its interrupts and main loop and implements fw_hal.h.
 *
 * Interrupt context: fw_tick, fw_adc_done, fw_rx_byte, fw_tx_next.
 * Main loop: fw_init, fw_poll, fw_idle (fw_idle with interrupts masked). */
#ifndef FW_CORE_H
#define FW_CORE_H

#include <stdint.h>

#include "fw_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the defaults and queues the start-up 0x00 and INFO frame. */
void fw_init(void);
/* Does one piece of pending work (send a frame, answer a command); returns
 * 1 if it did something, 0 if there was nothing to do. */
uint8_t fw_poll(void);
/* 1 if fw_poll has nothing to do until the next interrupt. */
uint8_t fw_idle(void);

/* Sample tick at device time t_us. Returns the first ADC channel to
 * convert, or -1 when no conversion is wanted (stopped, TEST mode). */
int8_t fw_tick(uint32_t t_us);
/* One conversion finished; returns the next channel to convert, or -1 when
 * the sample row is complete. */
int8_t fw_adc_done(uint16_t code);
/* One byte received from the host. */
void fw_rx_byte(uint8_t byte);
/* The UART lost or garbled a byte (overrun, framing error): the line it
 * belonged to is answered with ERR instead of being run. */
void fw_rx_lost(void);
/* Next byte to transmit: 1 and *byte, or 0 when there is none (the port
 * stops its transmit interrupt until fw_hal_tx_start). */
uint8_t fw_tx_next(uint8_t *byte);

/* Current settings, for ports and tests. */
uint16_t fw_rate_hz(void);
uint8_t fw_streaming(void);

#ifdef __cplusplus
}
#endif

#endif
