/* fw_avr.h - the ATmega328P port (Arduino Uno/Nano, 16 MHz). */
#ifndef FW_AVR_H
#define FW_AVR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Sets up the sample timer, ADC and UART (1 Mbaud) and starts the core. */
void fw_avr_setup(void);
/* One pass of the main loop: does pending work, else sleeps until the next
 * interrupt. Call it forever. */
void fw_avr_loop(void);

#ifdef __cplusplus
}
#endif

#endif
