/* listenguard.h - keeps an evhttp server healthy at its descriptor limit.
 * libevent retries a failing accept() at once and logs each failure, so at
 * EMFILE/ENFILE a listener spins a core and floods the log. The guard stops
 * accepting instead (the waiting connections stay in the kernel's
 * backlog), checks after a pause that doubles while no descriptor is free,
 * and accepts again once one is. One log line when a pause starts, one when
 * accepting resumes. */
#ifndef RXD_LISTENGUARD_H
#define RXD_LISTENGUARD_H

#include <event2/http.h>

#define LISTENGUARD_PAUSE_MIN_MS 50
#define LISTENGUARD_PAUSE_MAX_MS 2000

/* Guards every socket http is bound to; call after binding. */
void listenguard_install(struct evhttp *http);

#endif
