// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Maps: finding them by name and dumping them (bpf/README.md, MAP_DUMP).
 *
 * A dump collects the keys first, then reads (and with :drain deletes or
 * zeroes) each one: deleting while walking with get_next_key would restart
 * the walk at the first key. The walk is bounded by max_entries so a map that
 * keeps changing under us cannot loop forever. Per-CPU values are summed
 * across CPUs as u64 lanes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "frames.h"
#include "maps.h"

struct bpf_map *find_map(struct bpf_object *obj, const char *name, uint16_t *index)
{
	struct bpf_map *map;
	uint16_t i = 0;
	bpf_object__for_each_map(map, obj) {
		if (!strcmp(bpf_map__name(map), name)) {
			*index = i;
			return map;
		}
		i++;
	}
	return NULL;
}

bool map_is_percpu(enum bpf_map_type type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool map_is_array(enum bpf_map_type type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static bool map_is_hash(enum bpf_map_type type)
{
	return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static int ensure_value_buffers(struct map_dumper *dumper, size_t raw_size)
{
	if (raw_size <= dumper->value_size)
		return 0;
	free(dumper->raw_value);
	free(dumper->sum_value);
	free(dumper->zero_value);
	dumper->raw_value = malloc(raw_size);
	dumper->sum_value = malloc(raw_size);
	dumper->zero_value = calloc(1, raw_size);
	if (!dumper->raw_value || !dumper->sum_value || !dumper->zero_value) {
		dumper->value_size = 0;
		return -ENOMEM;
	}
	dumper->value_size = raw_size;
	return 0;
}

static void report_dump_error(struct dump_arg *d, int err, const char *what)
{
	if (d->error_reported)
		return;
	d->error_reported = true;
	emit_error("runtime", err, NULL, NULL, "dumping map %s: %s: %s (reported once)", d->name, what,
		   strerror(err));
}

/* Collect up to max_entries keys of fd into dumper->keys; returns how many. */
static uint32_t collect_keys(struct map_dumper *dumper, struct dump_arg *d, int fd,
			     uint32_t key_size, uint32_t max_entries)
{
	char key_prev[key_size ? key_size : 1], key_next[key_size ? key_size : 1];
	const void *prev = NULL;
	uint32_t nkeys = 0;

	dumper->keys.len = 0;
	while (nkeys < max_entries) {
		if (bpf_map_get_next_key(fd, prev, key_next)) {
			if (errno != ENOENT)
				report_dump_error(d, errno, "walking keys");
			break;
		}
		buf_put(&dumper->keys, key_next, key_size);
		memcpy(key_prev, key_next, key_size);
		prev = key_prev;
		nkeys++;
	}
	return nkeys;
}

/* Sum a per-CPU value (ncpus lanes of `lane` bytes) as u64s into sum_value. */
static void sum_percpu(struct map_dumper *dumper, size_t lane)
{
	uint64_t *sum = (uint64_t *)dumper->sum_value;
	size_t lanes = lane / 8;
	memset(sum, 0, lane);
	for (int cpu = 0; cpu < dumper->ncpus; cpu++) {
		const char *v = dumper->raw_value + (size_t)cpu * lane;
		for (size_t l = 0; l < lanes; l++) {
			uint64_t x;
			memcpy(&x, v + l * 8, 8);
			sum[l] += x;
		}
	}
}

void dump_map(struct map_dumper *dumper, struct dump_arg *d)
{
	int fd = bpf_map__fd(d->map);
	enum bpf_map_type type = bpf_map__type(d->map);
	uint32_t key_size = bpf_map__key_size(d->map);
	uint32_t value_size = bpf_map__value_size(d->map);
	uint32_t max_entries = bpf_map__max_entries(d->map);
	bool percpu = map_is_percpu(type);
	size_t lane = ((size_t)value_size + 7) / 8 * 8;
	size_t raw_size = percpu ? lane * (size_t)dumper->ncpus : value_size;
	/* payload: u32 keySize, u32 valueSize, u32 count, then count × (key, value) */
	uint32_t head[3] = { key_size, value_size, 0 };

	if (ensure_value_buffers(dumper, raw_size) < 0) {
		report_dump_error(d, ENOMEM, "allocating a value buffer");
		return;
	}
	char *raw_value = dumper->raw_value;

	/* walk the keys, then read each one */
	uint32_t nkeys = collect_keys(dumper, d, fd, key_size, max_entries);
	dumper->payload.len = 0;
	buf_put(&dumper->payload, head, sizeof(head));
	for (uint32_t i = 0; i < nkeys; i++) {
		const char *key = dumper->keys.data + (size_t)i * key_size;
		bool deleted = false;
		int err;
		if (d->drain && map_is_hash(type) && !d->no_lookup_and_delete) {
			/* Atomic: no increment can land between the read and the delete. */
			err = bpf_map_lookup_and_delete_elem(fd, key, raw_value);
			if (err && errno != ENOENT) {
				d->no_lookup_and_delete = true;
				err = bpf_map_lookup_elem(fd, key, raw_value);
			} else {
				deleted = !err;
			}
		} else {
			err = bpf_map_lookup_elem(fd, key, raw_value);
		}
		if (err) {
			if (errno != ENOENT) /* gone since the walk: nothing to report */
				report_dump_error(d, errno, "reading a value");
			continue;
		}

		const char *value = raw_value;
		if (percpu) {
			sum_percpu(dumper, lane);
			value = dumper->sum_value;
		}
		buf_put(&dumper->payload, key, key_size);
		buf_put(&dumper->payload, value, value_size);
		head[2]++;

		/* drain what lookup-and-delete did not */
		if (d->drain && !deleted) {
			if (map_is_array(type)) {
				/* Array slots cannot be deleted: drain means zero, and only
				 * the slots that hold something (most histogram slots don't). */
				if (memcmp(raw_value, dumper->zero_value, raw_size) &&
				    bpf_map_update_elem(fd, key, dumper->zero_value, BPF_ANY))
					report_dump_error(d, errno, "zeroing a slot");
			} else if (bpf_map_delete_elem(fd, key) && errno != ENOENT) {
				report_dump_error(d, errno, "deleting a key");
			}
		}
	}

	/* the count is known only now */
	memcpy(dumper->payload.data, head, sizeof(head));
	frame(FRAME_MAP_DUMP, d->index, dumper->payload.data, dumper->payload.len);
}

void map_dumper_free(struct map_dumper *dumper)
{
	buf_free(&dumper->keys);
	buf_free(&dumper->payload);
	free(dumper->raw_value);
	free(dumper->sum_value);
	free(dumper->zero_value);
	dumper->raw_value = dumper->sum_value = dumper->zero_value = NULL;
	dumper->value_size = 0;
}
