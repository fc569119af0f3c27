/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hotloop.h — HOT_LOOP marks a loop function compiled for AVX-512 and AVX2 as well as the
 * baseline and picked at load time (GNU ifunc), without changing its results: the callers'
 * loops do the same operations in the same order per value, and ISO C mode contracts nothing
 * into FMA. Elsewhere (clang, other systems) it is nothing. Not installed; libcore's and the
 * audio path's sources include it. */
#ifndef INSTRID_HOTLOOP_H
#define INSTRID_HOTLOOP_H

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__) &&       \
    __GNUC__ >= 8
#define HOT_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT_LOOP
#endif

#endif
