/* fw_avr.c - ATmega328P port of the reference firmware.
 *
 * Timer1 in CTC mode at 16 MHz / 8 = 2 MHz ticks the sampler; its compare
 * interrupt is the only source of the device clock, so the sample period is
 * exact and never drifts. Each tick starts the first conversion and the ADC
 * interrupt chains the others (AVcc reference, 16 MHz / 128 = 125 kHz ADC
 * clock, 104 us per conversion). The UART runs at 1 Mbaud (U2X, UBRR = 1,
 * 0% error at 16 MHz) and is fed by its data-register-empty interrupt. */
#include "fw_avr.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

#include "../core/fw_core.h"
#include "../core/fw_hal.h"

#if F_CPU != 16000000UL
#error "the ATmega328P port assumes a 16 MHz clock (Uno, Nano)"
#endif

#define TIMER_PRESCALE_BITS (1 << CS11) /* clk/8 = FW_TIMER_HZ */
#define ADC_CONTROL ((1 << ADEN) | (1 << ADIE) | (1 << ADPS2) | (1 << ADPS1) | (1 << ADPS0))

static uint16_t period_ticks;            /* ticks of the period now running */
static volatile uint16_t pending_ticks;  /* next period, applied at a tick */
static uint32_t clock_us;                /* time of the last tick */
static uint8_t clock_half;               /* half-microsecond remainder */

void fw_hal_irq_off(void)
{
    cli();
}

void fw_hal_irq_on(void)
{
    sei();
}

void fw_hal_tx_start(void)
{
    UCSR0B |= (1 << UDRIE0);
}

void fw_hal_set_rate(uint16_t hz)
{
    pending_ticks = (uint16_t)(FW_TIMER_HZ / hz);
}

static void adc_start(uint8_t ch)
{
    ADMUX = (uint8_t)((1 << REFS0) | ch); /* AVcc reference, right-adjusted */
    ADCSRA = ADC_CONTROL | (1 << ADSC);
}

ISR(TIMER1_COMPA_vect)
{
    uint16_t acc = (uint16_t)(clock_half + (period_ticks & 1u));
    clock_us += period_ticks >> 1;
    clock_us += acc >> 1;
    clock_half = (uint8_t)(acc & 1u);
    if (pending_ticks) {
        /* CTC: the counter restarted at this match, so the new top takes
         * effect for the period that begins now. */
        period_ticks = pending_ticks;
        OCR1A = (uint16_t)(period_ticks - 1u);
        pending_ticks = 0;
    }
    int8_t ch = fw_tick(clock_us);
    if (ch >= 0)
        adc_start((uint8_t)ch);
}

ISR(ADC_vect)
{
    int8_t ch = fw_adc_done(ADC);
    if (ch >= 0)
        adc_start((uint8_t)ch);
}

ISR(USART_RX_vect)
{
    uint8_t status = UCSR0A; /* before UDR0: reading UDR0 clears the flags */
    uint8_t byte = UDR0;
    if (status & ((1 << FE0) | (1 << DOR0)))
        fw_rx_lost();
    fw_rx_byte(byte);
}

ISR(USART_UDRE_vect)
{
    uint8_t byte;
    if (fw_tx_next(&byte))
        UDR0 = byte;
    else
        UCSR0B &= (uint8_t)~(1 << UDRIE0);
}

void fw_avr_setup(void)
{
    cli();
    /* UART: 1 Mbaud 8N1 */
    UCSR0A = (1 << U2X0);
    UBRR0 = 1;
    UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);
    UCSR0B = (1 << RXEN0) | (1 << TXEN0) | (1 << RXCIE0);
    /* ADC: analog pins lose their digital input buffers (less noise) */
    DIDR0 = (uint8_t)((1u << FW_CHANNELS) - 1u);
    ADCSRA = ADC_CONTROL;
    /* Timer1: CTC on OCR1A; the first period is set here, later ones by
     * fw_hal_set_rate through pending_ticks */
    fw_init();
    period_ticks = pending_ticks;
    pending_ticks = 0;
    TCCR1A = 0;
    TCCR1B = (1 << WGM12) | TIMER_PRESCALE_BITS;
    OCR1A = (uint16_t)(period_ticks - 1u);
    TCNT1 = 0; /* the device clock starts here */
    TIFR1 = (1 << OCF1A); /* a match on the reset top of 0 is not a tick */
    TIMSK1 = (1 << OCIE1A);
    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();
}

void fw_avr_loop(void)
{
    if (fw_poll())
        return;
    cli();
    if (fw_idle()) {
        /* sei; sleep: the instruction after sei runs first, so no interrupt
         * slips in between the check and the sleep. */
        sleep_enable();
        sei();
        sleep_cpu();
        sleep_disable();
    }
    sei();
}
