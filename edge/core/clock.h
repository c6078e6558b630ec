/* The daemon's two clocks, a leaf every layer may use (kept out of daemon.h so that a module
 * needing only the time does not depend on the daemon). */
#ifndef AG_CLOCK_H
#define AG_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds, the clock of every timer and timeout. */
uint64_t now_ms(void);
/* The same clock in microseconds, for how long something took. */
uint64_t now_us(void);
/* Wall-clock milliseconds since the epoch, for what people read (audit, first seen). */
int64_t wall_ms(void);

#endif
