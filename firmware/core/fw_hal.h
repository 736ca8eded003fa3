/* fw_hal.h - what a port (AVR, host test bench) provides to the core. */
#ifndef FW_HAL_H
#define FW_HAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Masks and restores the interrupts that call into the core (sampler, UART);
 * calls do not nest. */
void fw_hal_irq_off(void);
void fw_hal_irq_on(void);
/* Frame bytes are ready: the port starts draining them with fw_tx_next(). */
void fw_hal_tx_start(void);
/* Makes hz the sample rate from the next sample tick on (already checked
 * against FW_RATE_MIN, FW_RATE_MAX and FW_TIMER_HZ). */
void fw_hal_set_rate(uint16_t hz);

#ifdef __cplusplus
}
#endif

#endif
