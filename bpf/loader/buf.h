/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A growable byte buffer (stdout, JSON payloads, map dumps) and the JSON
 * string literals written into it.
 */
#ifndef PPBPF_BUF_H
#define PPBPF_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len, cap;
};

/* Append n bytes (p may be NULL when n is 0). Running out of memory ends the
 * process with exit code 1: there is nothing left to report it with. */
void buf_put(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
__attribute__((format(printf, 2, 3)))
void buf_printf(struct buf *b, const char *fmt, ...);

/* Append s[0..n) as a JSON string literal. Invalid UTF-8 (a verifier log cut
 * mid-character, a strange path) becomes U+FFFD so the payload always parses. */
void buf_json_strn(struct buf *b, const char *s, size_t n);
/* The same for a NUL-terminated string; NULL is "". */
void buf_json_str(struct buf *b, const char *s);

void buf_free(struct buf *b);

#endif /* PPBPF_BUF_H */
