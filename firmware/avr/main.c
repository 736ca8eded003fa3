/* main.c - entry point of the plain avr-gcc build (make -C firmware). */
#include "fw_avr.h"

int main(void)
{
    fw_avr_setup();
    for (;;)
        fw_avr_loop();
}
