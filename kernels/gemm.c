/*
 * C[M,N] = A[M,K] @ B[K,N] for tfjs-wasm's 2-D float32 matMul (src/core/gemm.ts installs it).
 *
 * Why: tfjs-wasm 4.22 runs these products through XNNPACK at ~15-30 GFLOP/s on this model's small
 * shapes (d = 64), repacking the right operand on every call. This kernel reads B in place and keeps
 * a 4 x 8 block of C in eight 128-bit accumulators while it walks k, so every loaded B vector is
 * used four times.
 *
 * Each output is accumulated over k in order, c = c + a[k] * b[k], starting from 0: the same sum in
 * the same order as XNNPACK's kernels, so with MADD a separate multiply and add (the `exact` build)
 * results are bit-identical to tfjs's own matMul (tests/gemm.test.ts checks it). The `fma` build
 * fuses the two with relaxed SIMD (one rounding instead of two: within float tolerance, not
 * bit-identical; it needs relaxed-SIMD support, which Chromium ships and Node 20 has behind a flag).
 *
 * Built by scripts/build-kernels.sh (clang, wasm32, no libc); the module imports tfjs-wasm's memory
 * and must have no data segment and no stack use, so it never writes outside C.
 */
#include <wasm_simd128.h>

typedef float f32;

#ifdef GEMM_FMA
#define MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(c, wasm_f32x4_mul(a, b))
#endif

/* Rows k0..k1-1 of B: C = (k0 == 0 ? 0 : C) + A[:, k0:k1] @ B[k0:k1, :]. Reloading C between
 * k-chunks continues the same sum in the same order, so chunking changes no bit. */
static void chunk(const f32* A, const f32* B, f32* C, int M, int K, int N, int k0, int k1) {
  const int first = k0 == 0;
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const f32 *a0 = A + i * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
    int j = 0;
    for (; j + 8 <= N; j += 8) { /* 4 rows x 8 columns */
      f32* c = C + i * N + j;
      v128_t c00, c01, c10, c11, c20, c21, c30, c31;
      if (first) {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = wasm_f32x4_splat(0.0f);
      } else {
        c00 = wasm_v128_load(c), c01 = wasm_v128_load(c + 4);
        c10 = wasm_v128_load(c + N), c11 = wasm_v128_load(c + N + 4);
        c20 = wasm_v128_load(c + 2 * N), c21 = wasm_v128_load(c + 2 * N + 4);
        c30 = wasm_v128_load(c + 3 * N), c31 = wasm_v128_load(c + 3 * N + 4);
      }
      const f32* b = B + k0 * N + j;
      for (int k = k0; k < k1; k++, b += N) {
        v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
        v128_t x = wasm_v128_load32_splat(a0 + k);
        c00 = MADD(x, b0, c00);
        c01 = MADD(x, b1, c01);
        x = wasm_v128_load32_splat(a1 + k);
        c10 = MADD(x, b0, c10);
        c11 = MADD(x, b1, c11);
        x = wasm_v128_load32_splat(a2 + k);
        c20 = MADD(x, b0, c20);
        c21 = MADD(x, b1, c21);
        x = wasm_v128_load32_splat(a3 + k);
        c30 = MADD(x, b0, c30);
        c31 = MADD(x, b1, c31);
      }
      wasm_v128_store(c, c00);
      wasm_v128_store(c + 4, c01);
      wasm_v128_store(c + N, c10);
      wasm_v128_store(c + N + 4, c11);
      wasm_v128_store(c + 2 * N, c20);
      wasm_v128_store(c + 2 * N + 4, c21);
      wasm_v128_store(c + 3 * N, c30);
      wasm_v128_store(c + 3 * N + 4, c31);
    }
    for (; j + 4 <= N; j += 4) { /* 4 rows x 4 columns */
      f32* c = C + i * N + j;
      v128_t c0, c1, c2, c3;
      if (first) {
        c0 = c1 = c2 = c3 = wasm_f32x4_splat(0.0f);
      } else {
        c0 = wasm_v128_load(c), c1 = wasm_v128_load(c + N);
        c2 = wasm_v128_load(c + 2 * N), c3 = wasm_v128_load(c + 3 * N);
      }
      const f32* b = B + k0 * N + j;
      for (int k = k0; k < k1; k++, b += N) {
        v128_t b0 = wasm_v128_load(b);
        c0 = MADD(wasm_v128_load32_splat(a0 + k), b0, c0);
        c1 = MADD(wasm_v128_load32_splat(a1 + k), b0, c1);
        c2 = MADD(wasm_v128_load32_splat(a2 + k), b0, c2);
        c3 = MADD(wasm_v128_load32_splat(a3 + k), b0, c3);
      }
      wasm_v128_store(c, c0);
      wasm_v128_store(c + N, c1);
      wasm_v128_store(c + 2 * N, c2);
      wasm_v128_store(c + 3 * N, c3);
    }
    for (; j < N; j++) /* the last N % 4 columns */
      for (int r = 0; r < 4; r++) {
        const f32* a = A + (i + r) * K;
        f32 s = first ? 0.0f : C[(i + r) * N + j];
        for (int k = k0; k < k1; k++) s += a[k] * B[k * N + j];
        C[(i + r) * N + j] = s;
      }
  }
  for (; i < M; i++) { /* the last M % 4 rows, one at a time */
    const f32* a = A + i * K;
    f32* c = C + i * N;
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      v128_t c0 = first ? wasm_f32x4_splat(0.0f) : wasm_v128_load(c + j);
      const f32* b = B + k0 * N + j;
      for (int k = k0; k < k1; k++, b += N) c0 = MADD(wasm_v128_load32_splat(a + k), wasm_v128_load(b), c0);
      wasm_v128_store(c + j, c0);
    }
    for (; j < N; j++) {
      f32 s = first ? 0.0f : c[j];
      for (int k = k0; k < k1; k++) s += a[k] * B[k * N + j];
      c[j] = s;
    }
  }
}

/* B is read in chunks of KC rows (KC x N floats, 256 KB at N = 256) so that each chunk stays in
 * cache while every row block of A passes over it; unchunked, a [3072, 256] B (3 MB) streamed from
 * memory once per 4 rows of A. */
#define KC 256

__attribute__((export_name("gemm")))
void gemm(const f32* A, const f32* B, f32* C, int M, int K, int N) {
  for (int k0 = 0; k0 < K; k0 += KC) chunk(A, B, C, M, K, N, k0, k0 + KC < K ? k0 + KC : K);
}
