/* fw_config.h - build-time settings of the reference firmware.
 * Override any of them with -D (the Makefile passes CHANNELS=, GAIN=,
 * SERIAL=); the Arduino sketch uses these defaults unless edited here. */
#ifndef FW_CONFIG_H
#define FW_CONFIG_H

/* Analog inputs sampled, A0 upwards (1..6 on an Uno/Nano's A0-A5). */
#ifndef FW_CHANNELS
#define FW_CHANNELS 6
#endif

/* Voltage gain of the preamplifier between electrode and ADC pin; INFO's
 * scale is 5 V / 1024 / gain, in microvolts per count at the electrode. */
#ifndef FW_GAIN
#define FW_GAIN 1000
#endif

/* The unit's serial number, the key of its calibration files: give every
 * board its own (make SERIAL=...). */
#ifndef FW_SERIAL
#define FW_SERIAL "avr328p-0001"
#endif

#define FW_VERSION "0.1.0"
#define FW_DEVICE "sensorio-avr328p"

/* ADC reference (AVcc) in microvolts and the ADC's code range. */
#define FW_VREF_UV 5000000UL
#define FW_ADC_CODES 1024U
#define FW_ZERO_CODE 512U

/* Sample clock: the timer counts at FW_TIMER_HZ, so a rate is exact when it
 * divides FW_TIMER_HZ. */
#define FW_TIMER_HZ 2000000UL
#define FW_RATE_DEFAULT 1000U
#define FW_RATE_MIN 50U
/* One conversion takes 13 ADC clocks at 16 MHz / 128 = 104 us; with the
 * interrupt around it the sampler needs about 112 us per channel, and keeps
 * a tenth of each period for the UART and command handling. */
#define FW_CONV_US 112UL
#define FW_RATE_MAX ((uint16_t)(900000UL / (FW_CONV_US * FW_CHANNELS)))

/* Samples per channel in one DATA frame (8 = 125 frames/s at 1 kHz). */
#define FW_SAMPLES_PER_FRAME 8

/* TEST mode: a square wave of +-FW_TEST_COUNTS around FW_ZERO_CODE at
 * FW_TEST_HZ, timed by the device clock. */
#define FW_TEST_COUNTS 100U
#define FW_TEST_HZ 10U

#endif
