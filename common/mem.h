/* mem.h - the memory policy: allocation that never returns NULL, and
 * assertions that stay on in every build type.
 *
 * Running out of memory is not a case the services recover from: half-done
 * work in an event loop cannot be unwound reliably, while a restarted
 * process resumes from Kafka offsets and Redis with nothing lost (offsets
 * are stored only after effects). So, as Redis's zmalloc does, a failed
 * allocation writes one JSON line on stderr and aborts. Code that must run
 * on when an allocation fails calls malloc itself and says why in a comment.
 *
 * mem_assert checks an invariant of the program's own data (an index in
 * range, a count that cannot go negative), never input: input is refused
 * with an error. A broken invariant means the data can no longer be
 * trusted, so it aborts with the condition and the place. */
#ifndef RXD_MEM_H
#define RXD_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Routes jansson's and libevent's allocations through the above, so that
 * their NULL returns need no handling either. Called once at start-up. */
void mem_init(void);

_Noreturn void mem_assert_fail(const char *cond, const char *file, int line);
#define mem_assert(cond) ((cond) ? (void)0 : mem_assert_fail(#cond, __FILE__, __LINE__))

#endif
