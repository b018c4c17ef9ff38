/*
 * Four kernels for tfjs-wasm (src/core/wasm-kernels.ts installs them over tfjs's own):
 * - gemm: C[M,N] = A[M,K] @ B[K,N], the 2-D float32 matMul;
 * - group_contract: attention's per-group products, which the model runs as a depthwise convolution;
 * - batch_matmul: every other product (transposed operands, batch dimensions), in tfjs's own order;
 * - concat2: a concatenation of two tensors (the KV cache's append), bytes only.
 *
 * Why: tfjs-wasm 4.22 runs the first two through XNNPACK at ~15-30 GFLOP/s on this model's small shapes
 * (d = 64), repacking the right operand of every product. These read B in place and keep a 4 x 8
 * block of C in eight 128-bit accumulators while they walk k, so every loaded B vector is used four
 * times.
 *
 * gemm and group_contract accumulate each output over k in order, c = c + a[k] * b[k], from 0: the
 * same sum in the same order as XNNPACK's kernels, so with MADD a separate multiply and add (the
 * `exact` build) results are bit-identical to tfjs's own (tests/wasm-kernels.test.ts checks it);
 * batch_matmul keeps tfjs's blocked order (below) in both builds. The `fma` build fuses the
 * two with relaxed SIMD (one rounding instead of two: within float tolerance, not bit-identical; it
 * needs relaxed-SIMD support, which Chromium ships and Node 20 has behind a flag).
 *
 * Built by scripts/build-kernels.sh (clang, wasm32, no libc); the module imports tfjs-wasm's memory
 * and must have no data segment and no stack use, so it writes only to the outputs and the scratch
 * it is given.
 */
#include <wasm_simd128.h>

typedef float f32;

#ifdef GEMM_FMA
#define MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(c, wasm_f32x4_mul(a, b))
#endif

/* Rows k0..k1-1 of B: C = (k0 == 0 ? 0 : C) + A[:, k0:k1] @ B[k0:k1, :]. Reloading C between
 * k-chunks continues the same sum in the same order, so chunking changes no bit.
 * Strides (in floats): A[i, k] at A + i * sai + k * sak, B[k, j] at B + k * N, C[i, j] at C + i * N;
 * here N is the row stride of B and C, and n <= N the columns computed. Inlined with sak = 1 for
 * plain products, with the layouts below for the per-group ones. */
static inline __attribute__((always_inline)) void chunk(const f32* A, const f32* B, f32* C, int M, int n,
                                                        int N, int sai, int sak, int k0, int k1) {
  const int first = k0 == 0;
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const f32 *a0 = A + i * sai, *a1 = a0 + sai, *a2 = a1 + sai, *a3 = a2 + sai;
    int j = 0;
    for (; j + 8 <= n; j += 8) { /* 4 rows x 8 columns */
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
        v128_t x = wasm_v128_load32_splat(a0 + k * sak);
        c00 = MADD(x, b0, c00);
        c01 = MADD(x, b1, c01);
        x = wasm_v128_load32_splat(a1 + k * sak);
        c10 = MADD(x, b0, c10);
        c11 = MADD(x, b1, c11);
        x = wasm_v128_load32_splat(a2 + k * sak);
        c20 = MADD(x, b0, c20);
        c21 = MADD(x, b1, c21);
        x = wasm_v128_load32_splat(a3 + k * sak);
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
    for (; j + 4 <= n; j += 4) { /* 4 rows x 4 columns */
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
        c0 = MADD(wasm_v128_load32_splat(a0 + k * sak), b0, c0);
        c1 = MADD(wasm_v128_load32_splat(a1 + k * sak), b0, c1);
        c2 = MADD(wasm_v128_load32_splat(a2 + k * sak), b0, c2);
        c3 = MADD(wasm_v128_load32_splat(a3 + k * sak), b0, c3);
      }
      wasm_v128_store(c, c0);
      wasm_v128_store(c + N, c1);
      wasm_v128_store(c + 2 * N, c2);
      wasm_v128_store(c + 3 * N, c3);
    }
    for (; j < n; j++) /* the last n % 4 columns */
      for (int r = 0; r < 4; r++) {
        const f32* a = A + (i + r) * sai;
        f32 s = first ? 0.0f : C[(i + r) * N + j];
        for (int k = k0; k < k1; k++) s += a[k * sak] * B[k * N + j];
        C[(i + r) * N + j] = s;
      }
  }
  for (; i < M; i++) { /* the last M % 4 rows, one at a time */
    const f32* a = A + i * sai;
    f32* c = C + i * N;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      v128_t c0 = first ? wasm_f32x4_splat(0.0f) : wasm_v128_load(c + j);
      const f32* b = B + k0 * N + j;
      for (int k = k0; k < k1; k++, b += N)
        c0 = MADD(wasm_v128_load32_splat(a + k * sak), wasm_v128_load(b), c0);
      wasm_v128_store(c + j, c0);
    }
    for (; j < n; j++) {
      f32 s = first ? 0.0f : c[j];
      for (int k = k0; k < k1; k++) s += a[k * sak] * B[k * N + j];
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
  /* K = 0: an empty sum, zeros (tfjs-wasm's XNNPACK refuses the shape and leaves C unwritten). */
  if (K == 0) __builtin_memset(C, 0, (unsigned long)M * N * sizeof(f32));
  for (int k0 = 0; k0 < K; k0 += KC) chunk(A, B, C, M, N, N, K, 1, k0, k0 + KC < K ? k0 + KC : K);
}

/* Groups per packing pass: 16 floats of a group-minor row are one 64-byte cache line. */
#define GB 16

/* dst[c * ds + r] = src[r * ss + c] for r < R, c < C: columns of src as rows of dst, in 4 x 4 blocks
 * (four vector loads, eight shuffles, four stores; a scalar loop for the edges). Bytes only. */
static void pack_columns(const f32* src, int ss, int R, int C, f32* dst, int ds) {
  int r = 0;
  for (; r + 4 <= R; r += 4) {
    const f32* s0 = src + r * ss;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      v128_t x0 = wasm_v128_load(s0 + c), x1 = wasm_v128_load(s0 + ss + c);
      v128_t x2 = wasm_v128_load(s0 + 2 * ss + c), x3 = wasm_v128_load(s0 + 3 * ss + c);
      v128_t t0 = wasm_i32x4_shuffle(x0, x1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(x0, x1, 2, 6, 3, 7);
      v128_t t2 = wasm_i32x4_shuffle(x2, x3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(x2, x3, 2, 6, 3, 7);
      wasm_v128_store(dst + c * ds + r, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
      wasm_v128_store(dst + (c + 1) * ds + r, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
      wasm_v128_store(dst + (c + 2) * ds + r, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
      wasm_v128_store(dst + (c + 3) * ds + r, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
    }
    for (; c < C; c++)
      for (int q = r; q < r + 4; q++) dst[c * ds + q] = src[q * ss + c];
  }
  for (; r < R; r++)
    for (int c = 0; c < C; c++) dst[c * ds + r] = src[r * ss + c];
}

/* Per-group products in the model's group-minor layout (src/core/model.ts groupContract):
 * a [I, K, G], b [K, G, J] -> out [I, G, J], out[i, g, j] = sum_k a[i, k, g] b[k, g, j]; i.e. XNNPACK's
 * depthwise convolution with input [I, 1, K, G] and filter [1, K, G, J]. Group g is the product
 * A_g @ B_g with A_g[i, k] = a[i, k, g], B_g[k, j] = b[k, g, j] and out_g[i, j] = out[i, g, j] (B_g
 * and out_g both with row stride G J). Each sums over k in order from 0, as the convolution sums its
 * taps. A_g is first packed into `scratch`, GB groups at a time (16 floats of a group-minor row are one
 * cache line), by 4 x 4 transposes: read in place, its column stride G (1 KB at G = 256) maps every
 * element to the same few cache sets, and the products ran slower than tfjs's convolution. Packed
 * groups lie I K + 16 floats apart: at I K = 1024 a plain I K stride sent the 16 groups' writes to one
 * cache set too (the packing then cost more than the products). B_g and out_g are used in place
 * (packing them was slower). `scratch`: GB * (I K + 16) floats. K here is a sequence length or a head
 * width (<= 64): one chunk. */
__attribute__((export_name("group_contract")))
void group_contract(const f32* a, const f32* b, f32* out, int I, int K, int G, int J, f32* scratch) {
  const int ga = I * K + 16;
  for (int g0 = 0; g0 < G; g0 += GB) {
    const int gb = G - g0 < GB ? G - g0 : GB;
    pack_columns(a + g0, G, I * K, gb, scratch, ga);
    for (int g = 0; g < gb; g++)
      chunk(scratch + g * ga, b + (g0 + g) * J, out + (g0 + g) * J, I, J, G * J, K, 1, 0, K);
  }
}

/* tfjs-wasm's own order for every other product (transposed operands, batch dimensions; its
 * batch_mat_mul_impl.cc slow path): k in blocks of 48, each block summed from 0 and then added to
 * the output, which starts at 0. Kept exactly, four output columns at a time, so results stay
 * bit-identical. a [batch, M, K] (or [batch, K, M] with tA), b [batch, K, N] (or [batch, N, K]
 * with tB), c [batch, M, N]. The decode's attention products (q k^T and att v, per sequence and
 * head) come here. */
#define TFJS_KB 48

static inline __attribute__((always_inline)) void batch_rows(const f32* a, const f32* b, f32* c, int M,
                                                             int K, int N, int tA, int tB) {
  const int sai = tA ? 1 : K, sak = tA ? M : 1;
  for (int i = 0; i < M; i++) {
    const f32* ai = a + i * sai;
    f32* ci = c + i * N;
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      v128_t acc = wasm_f32x4_splat(0.0f);
      for (int k0 = 0; k0 < K; k0 += TFJS_KB) {
        const int k1 = k0 + TFJS_KB < K ? k0 + TFJS_KB : K;
        v128_t s = wasm_f32x4_splat(0.0f);
        if (tB) {
          const f32 *b0 = b + j * K, *b1 = b0 + K, *b2 = b1 + K, *b3 = b2 + K;
          for (int k = k0; k < k1; k++)
            s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load32_splat(ai + k * sak),
                                                 wasm_f32x4_make(b0[k], b1[k], b2[k], b3[k])));
        } else {
          for (int k = k0; k < k1; k++)
            s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load32_splat(ai + k * sak),
                                                 wasm_v128_load(b + k * N + j)));
        }
        acc = wasm_f32x4_add(acc, s);
      }
      wasm_v128_store(ci + j, acc);
    }
    for (; j < N; j++) {
      f32 acc = 0.0f;
      for (int k0 = 0; k0 < K; k0 += TFJS_KB) {
        const int k1 = k0 + TFJS_KB < K ? k0 + TFJS_KB : K;
        f32 s = 0.0f;
        for (int k = k0; k < k1; k++) s += ai[k * sak] * (tB ? b[j * K + k] : b[k * N + j]);
        acc = acc + s;
      }
      ci[j] = acc;
    }
  }
}

__attribute__((export_name("batch_matmul")))
void batch_matmul(const f32* A, const f32* B, f32* C, int batch, int M, int K, int N, int tA, int tB) {
  for (int p = 0; p < batch; p++) {
    const f32 *a = A + p * M * K, *b = B + p * K * N;
    f32* c = C + p * M * N;
    /* Constant flags, so each combination gets its own inner loops. */
    if (tB) {
      if (tA) batch_rows(a, b, c, M, K, N, 1, 1);
      else batch_rows(a, b, c, M, K, N, 0, 1);
    } else {
      if (tA) batch_rows(a, b, c, M, K, N, 1, 0);
      else batch_rows(a, b, c, M, K, N, 0, 0);
    }
  }
}

/* Concatenation of two tensors along an inner axis: out[b] = [x[b], y[b]] for each of `batch` outer
 * rows, nx and ny floats each (the KV cache grows by one position per decoded token this way).
 * tfjs-wasm does it in JavaScript, one typed-array copy per row and input; this is the same copy
 * in one call (memory.copy, bulk memory). Moves bytes only, so it is exact. */
__attribute__((export_name("concat2")))
void concat2(const f32* x, const f32* y, f32* out, int batch, int nx, int ny) {
  for (int b = 0; b < batch; b++) {
    __builtin_memcpy(out, x + b * nx, nx * sizeof(f32));
    __builtin_memcpy(out + nx, y + b * ny, ny * sizeof(f32));
    out += nx + ny;
  }
}
