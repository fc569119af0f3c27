/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vec_act.h — the activation of a vector of outputs still in registers, as
 * instrid_relu_forward / instrid_hardswish_forward do it per value (the same operations, so the
 * same results; the selects are written as masks, which is what "x > 0 ? x : 0" becomes per
 * lane). Included by the vector kernels once per vector type, with:
 *   VA_VEC, VA_IVEC   the vector of floats and the vector of ints of the same size
 *   VA_TARGET         the function attribute of the kernel that uses it
 *   VA_NAME(x)        x with the kernel's suffix
 * Not installed. */

static inline VA_TARGET __attribute__((always_inline)) VA_VEC VA_NAME(act_vec)(VA_VEC v,
                                                                               instrid_act act)
{
  if (act == INSTRID_ACT_RELU)
    return (VA_VEC)((VA_IVEC)v & (v > 0.0f));
  if (act == INSTRID_ACT_HARDSWISH) {
    const VA_VEC six = (VA_VEC){0} + 6.0f;
    VA_VEC r = v + 3.0f;
    r = (VA_VEC)((VA_IVEC)r & (r > 0.0f));
    const VA_IVEC lt = r < 6.0f;
    r = (VA_VEC)(((VA_IVEC)r & lt) | ((VA_IVEC)six & ~lt));
    return v * r / 6.0f;
  }
  return v;
}
