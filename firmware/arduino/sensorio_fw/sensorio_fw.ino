// sensorio reference firmware for the Arduino Uno and Nano (ATmega328P, 16 MHz).
//
// This sketch builds the same core and AVR port as `make -C firmware`.
// Before opening it in the Arduino IDE, copy the sources into this sketch:
//     make -C firmware sketch
// (run it again after changing anything under firmware/ or csrc/).
// Settings (channels, preamplifier gain, serial number) are in
// src/firmware/core/fw_config.h. Do not use Serial in this sketch: the
// firmware owns the UART (1 Mbaud, SIO-1 frames), Timer1 and the ADC.
#include "src/firmware/avr/fw_avr.h"

void setup()
{
    fw_avr_setup();
}

void loop()
{
    fw_avr_loop();
}
