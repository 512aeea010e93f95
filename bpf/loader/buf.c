// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Growable byte buffer and JSON string literals: every JSON payload ppbpf
 * sends is written by hand with these (no JSON library: the payloads are
 * small and fixed in shape, see bpf/README.md).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "frames.h"

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		/* Nothing sensible to report to: the frame itself would need memory. */
		fprintf(stderr, "ppbpf: out of memory (%zu bytes)\n", cap);
		exit(EXIT_FAILURE_LOAD);
	}
	b->data = p;
	b->cap = cap;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return; /* p may be NULL (an empty buffer) */
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		buf_put(b, small, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and out-of-range code points. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void buf_json_strn(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_put(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			buf_put(b, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			switch (c) {
			case '\n': buf_puts(b, "\\n"); break;
			case '\t': buf_puts(b, "\\t"); break;
			case '\r': buf_puts(b, "\\r"); break;
			default: buf_printf(b, "\\u%04x", c); break;
			}
			i++;
		} else {
			size_t len = utf8_seq_len(p + i, n - i);
			if (len == 0) {
				buf_puts(b, "\\ufffd");
				i++;
			} else {
				buf_put(b, p + i, len);
				i += len;
			}
		}
	}
	buf_put(b, "\"", 1);
}

void buf_json_str(struct buf *b, const char *s)
{
	buf_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ 0 };
}
