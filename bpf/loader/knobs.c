// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --set: knobs are `const volatile` variables in the object's .rodata. Their
 * names, offsets and types come from the .rodata DATASEC in the object's BTF;
 * each value is parsed for its variable's type (integer, bool, enum, char
 * array) into a copy of the section's initial value, which goes back to libbpf
 * before load, so the verifier sees the constants (and prunes dead branches).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include "frames.h"
#include "knobs.h"

static const struct btf_type *skip_mods(const struct btf *btf, __u32 id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	while (t && (btf_is_mod(t) || btf_is_typedef(t)))
		t = btf__type_by_id(btf, t->type);
	return t;
}

/* Parse VALUE as an integer of `size` bytes: decimal or 0x-hex, negative only
 * when signed, range-checked. Stores it in host byte order at dst. */
static bool parse_int_value(const char *s, size_t size, bool is_signed, void *dst)
{
	bool neg = false;
	const char *p = s;
	if (*p == '-') {
		if (!is_signed)
			return false;
		neg = true;
		p++;
	}
	if (!*p || *p == '-' || *p == '+' || *p == ' ')
		return false;
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (!*p)
			return false;
	}
	char *end;
	errno = 0;
	unsigned long long mag = strtoull(p, &end, base);
	if (errno || *end)
		return false;

	unsigned bits = (unsigned)size * 8;
	uint64_t v;
	if (is_signed) {
		uint64_t limit = (uint64_t)1 << (bits - 1); /* |min|; max is limit - 1 */
		if (neg ? mag > limit : mag >= limit)
			return false;
		v = neg ? (uint64_t)0 - (uint64_t)mag : (uint64_t)mag;
	} else {
		if (bits < 64 && mag >> bits)
			return false;
		v = mag;
	}
	switch (size) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(dst, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); break; }
	case 8: memcpy(dst, &v, 8); break;
	default: return false;
	}
	return true;
}

static int set_bool(const struct btf_type *t, char *dst, const struct set_arg *set)
{
	bool b;
	if (!strcmp(set->value, "true") || !strcmp(set->value, "1"))
		b = true;
	else if (!strcmp(set->value, "false") || !strcmp(set->value, "0"))
		b = false;
	else {
		emit_error("set", EINVAL, NULL, NULL, "%s=%s: expected true/false/1/0", set->name,
			   set->value);
		return -1;
	}
	memset(dst, 0, t->size);
	dst[0] = b; /* bool is one byte on every BPF target */
	return 0;
}

static int set_int(const struct btf_type *t, char *dst, const struct set_arg *set)
{
	__u8 enc = btf_int_encoding(t);
	if (enc & BTF_INT_BOOL)
		return set_bool(t, dst, set);
	if (!parse_int_value(set->value, t->size, enc & BTF_INT_SIGNED, dst)) {
		emit_error("set", EINVAL, NULL, NULL,
			   "%s=%s: not a valid %s %u-bit integer (decimal or 0x-hex)", set->name,
			   set->value, enc & BTF_INT_SIGNED ? "signed" : "unsigned", t->size * 8);
		return -1;
	}
	return 0;
}

/* An enumerator's name is accepted as well as a number. */
static int set_enum(const struct btf *btf, const struct btf_type *t, char *dst,
		    const struct set_arg *set)
{
	for (int k = 0; k < btf_vlen(t); k++) {
		const char *ename;
		uint64_t v;
		if (btf_is_enum(t)) {
			ename = btf__name_by_offset(btf, btf_enum(t)[k].name_off);
			v = (uint64_t)(int64_t)btf_enum(t)[k].val;
		} else {
			ename = btf__name_by_offset(btf, btf_enum64(t)[k].name_off);
			v = btf_enum64_value(&btf_enum64(t)[k]);
		}
		if (ename && !strcmp(ename, set->value)) {
			char num[32];
			snprintf(num, sizeof(num), "%" PRIu64, v);
			if (btf_kflag(t) && (int64_t)v < 0)
				snprintf(num, sizeof(num), "%" PRId64, (int64_t)v);
			if (!parse_int_value(num, t->size, btf_kflag(t), dst))
				break;
			return 0;
		}
	}
	if (!parse_int_value(set->value, t->size, btf_kflag(t), dst)) {
		emit_error("set", EINVAL, NULL, NULL, "%s=%s: not an enumerator or a valid %u-bit integer",
			   set->name, set->value, t->size * 8);
		return -1;
	}
	return 0;
}

/* A char[N] takes a string of at most N-1 bytes, NUL-padded. 1 when t is not
 * a char array. */
static int set_char_array(const struct btf *btf, const struct btf_type *t, char *dst,
			  const struct set_arg *set)
{
	const struct btf_array *arr = btf_array(t);
	const struct btf_type *elem = skip_mods(btf, arr->type);
	if (!elem || !btf_is_int(elem) || elem->size != 1 || arr->nelems == 0)
		return 1;
	size_t len = strlen(set->value);
	if (len > arr->nelems - 1) {
		emit_error("set", EINVAL, NULL, NULL, "%s: \"%s\" is longer than %u bytes", set->name,
			   set->value, arr->nelems - 1);
		return -1;
	}
	memset(dst, 0, arr->nelems);
	memcpy(dst, set->value, len);
	return 0;
}

/* Apply one NAME=VALUE to `data` (a copy of .rodata described by datasec `sec`). */
static int apply_knob(const struct btf *btf, const struct btf_type *sec, char *data,
		      size_t data_size, const struct set_arg *set)
{
	const struct btf_var_secinfo *vsi = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vsi++) {
		const struct btf_type *var = btf__type_by_id(btf, vsi->type);
		if (!var || !btf_is_var(var) || strcmp(btf__name_by_offset(btf, var->name_off), set->name))
			continue;
		if ((size_t)vsi->offset + vsi->size > data_size) {
			emit_error("set", EINVAL, NULL, NULL, "%s: lies outside .rodata", set->name);
			return -1;
		}
		char *dst = data + vsi->offset;
		const struct btf_type *t = skip_mods(btf, var->type);
		if (!t) {
			emit_error("set", EINVAL, NULL, NULL, "%s: has no type in BTF", set->name);
			return -1;
		}
		if (btf_is_int(t))
			return set_int(t, dst, set);
		if (btf_is_any_enum(t))
			return set_enum(btf, t, dst, set);
		if (btf_is_array(t)) {
			int err = set_char_array(btf, t, dst, set);
			if (err <= 0)
				return err;
		}
		emit_error("set", EINVAL, NULL, NULL,
			   "%s: only integers, enums, bools and char arrays can be set", set->name);
		return -1;
	}
	emit_error("set", ENOENT, NULL, NULL, "no variable %s in the object's .rodata", set->name);
	return -1;
}

static bool str_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* The object's .rodata map, or NULL. Internal maps are named "<object
 * prefix>.rodata"; ".rodata.str1.1" (string literals) and custom ".rodata.*"
 * sections are not knobs. */
static struct bpf_map *find_rodata(struct bpf_object *obj)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		if (bpf_map__is_internal(m) && str_ends_with(bpf_map__name(m), ".rodata"))
			return m;
	}
	return NULL;
}

/* The DATASEC describing .rodata: the map's value type, else found by name. */
static const struct btf_type *find_rodata_datasec(const struct btf *btf,
						   const struct bpf_map *rodata)
{
	const struct btf_type *sec = NULL;
	__u32 id = bpf_map__btf_value_type_id(rodata);
	if (id)
		sec = btf__type_by_id(btf, id);
	if (!sec || !btf_is_datasec(sec)) {
		int sid = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
		sec = sid > 0 ? btf__type_by_id(btf, (__u32)sid) : NULL;
	}
	return sec;
}

int apply_knobs(struct bpf_object *obj, const struct set_arg *sets, int nsets)
{
	char *data = NULL;
	int err, ret = -1;

	if (nsets == 0)
		return 0;

	/* find .rodata and its BTF description */
	struct bpf_map *rodata = find_rodata(obj);
	struct btf *btf = bpf_object__btf(obj);
	if (!rodata || !btf) {
		emit_error("set", ENOENT, NULL, NULL, "--set %s: the object has no .rodata%s", sets[0].name,
			   btf ? "" : " BTF");
		return -1;
	}
	const struct btf_type *sec = find_rodata_datasec(btf, rodata);
	size_t size = 0;
	const void *initial = bpf_map__initial_value(rodata, &size);
	if (!sec || !initial) {
		emit_error("set", ENOENT, NULL, NULL, "the object's .rodata has no BTF description");
		return -1;
	}

	/* edit a copy: bpf_map__initial_value() is const */
	data = malloc(size);
	if (!data) {
		emit_error("set", ENOMEM, NULL, NULL, "out of memory");
		return -1;
	}
	memcpy(data, initial, size);
	for (int i = 0; i < nsets; i++) {
		if (apply_knob(btf, sec, data, size, &sets[i]))
			goto cleanup;
	}

	/* hand it back to libbpf */
	err = bpf_map__set_initial_value(rodata, data, size);
	if (err) {
		emit_error("set", -err, NULL, NULL, "writing .rodata: %s", strerror(-err));
		goto cleanup;
	}
	ret = 0;
cleanup:
	free(data);
	return ret;
}
