/* Sort keys and their sort: three doubles compared in order, then an index, so a sort is
 * deterministic; for the solver (events, admission) and the policies that order EVs (`deadline`).
 *
 * Key design decision: a merge sort in this header with the comparison inlined, not qsort: at
 * 1,000 chargers qsort's callback per comparison was the cost (deadline's qsort_r by rank: 12 %
 * of its solve). Stable, and a list already in order is passed over in one scan. */
#ifndef AG_SKEY_H
#define AG_SKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct skey {
	double k[3];
	uint32_t idx;
};

static inline int skey_less(const struct skey *a, const struct skey *b)
{
	for (int i = 0; i < 3; i++)
		if (a->k[i] != b->k[i])
			return a->k[i] < b->k[i];
	return a->idx < b->idx;
}

/* Sorts a[0..n) ascending; tmp has room for n keys. */
static inline void skey_sort(struct skey *a, struct skey *tmp, size_t n)
{
	enum { RUN = 16 };
	struct skey *src = a, *dst = tmp, *swap;
	size_t i, sorted = 1;

	for (i = 1; i < n && sorted; i++)
		sorted = !skey_less(&a[i], &a[i - 1]);
	if (sorted)
		return;
	for (size_t lo = 0; lo < n; lo += RUN)          /* insertion-sorted runs ... */
		for (i = lo + 1; i < n && i < lo + RUN; i++) {
			struct skey k = a[i];
			size_t j = i;

			for (; j > lo && skey_less(&k, &a[j - 1]); j--)
				a[j] = a[j - 1];
			a[j] = k;
		}
	for (size_t w = RUN; w < n; w *= 2) {          /* ... merged between two buffers */
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t l = lo, r = mid, o = lo;

			while (l < mid && r < hi)
				dst[o++] = skey_less(&src[r], &src[l]) ? src[r++] : src[l++];
			while (l < mid)
				dst[o++] = src[l++];
			while (r < hi)
				dst[o++] = src[r++];
		}
		swap = src, src = dst, dst = swap;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

#endif
