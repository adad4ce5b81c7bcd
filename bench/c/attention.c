/*
 * The native reference for attnstream's benchmark: one decode step of multi-head attention over a
 * float32 KV cache, written the way llama2.c writes it (flat arrays, a dot product, a
 * max-subtracted softmax, a weighted sum), compiled by the harness with
 *   gcc -O3 -march=native -ffast-math -pthread attention.c -lm
 * and driven over stdin/stdout: one command per line in, one JSON object per line out.
 *
 *   setup H D n threads   cache of n tokens (0 … n-1) in place; room for token n
 *   steps count           `count` decode steps at length n: append token n, attend with query n
 *                         over n+1 keys, roll back to n. Replies the µs of each step and the last output.
 *   stream H D tokens threads   tokens 0 … tokens-1 from an empty cache, each appended then attended;
 *                         replies the seconds in all and the last output.
 *   bandwidth mib         best GB/s of summing a mib-MiB array of doubles, single-threaded
 *   quit
 *
 * The data are the harness's: value(seed, i) hashes a flat index, so JavaScript, numpy and C hold
 * bit-identical inputs without shipping them around. Token t, head h, channel d has index
 * (t·H + h)·D + d; seeds 1, 2, 3 give queries, keys and values.
 *
 * The cache is head-major, K[h][t][d] with room for `cap` tokens per head, so attending one head
 * streams one contiguous run. With 2 threads the keys are split in two halves; each thread keeps
 * its own running max and sum, and the halves are merged with the log-sum-exp rule.
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SEED_Q = 1, SEED_K = 2, SEED_V = 3, MAX_THREADS = 2 };

static float value(uint32_t seed, uint32_t i) {
  uint32_t u = i ^ (seed * 0x9E3779B9u);
  u = (u ^ (u >> 16)) * 0x85EBCA6Bu;
  u = (u ^ (u >> 13)) * 0xC2B2AE35u;
  u ^= u >> 16;
  return (float)((double)u / 4294967296.0 - 0.5);
}

/* Every array starts on a cache line (64 bytes, one AVX-512 vector); the size is rounded up as
 * aligned_alloc asks. With malloc's 16 bytes the reference was bimodal: the weighted sum loads and
 * stores its accumulator row on every key, and wherever malloc happened to put it across a line
 * boundary (a process's later streams, here) each of those split in two: ~7,500 tokens/s against
 * ~11,000–13,500 with the accumulator aligned. */
static void *aligned64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
  int heads, head_dim, cap, len, threads;
  float scale;
  float *keys, *values; /* [heads][cap][head_dim] */
  float *query;         /* [heads][head_dim] */
  float *out;           /* [heads][head_dim] */
} Cache;

/* What one thread computes over keys [from, to): per head the max score, the sum of exp(score - max)
 * and the unnormalised weighted sum of values. */
typedef struct {
  const Cache *cache;
  int from, to;
  float *scores; /* cap */
  float *max, *sum; /* [heads] */
  float *acc;       /* [heads][head_dim] */
} Part;

static void attend_part(Part *p) {
  const Cache *c = p->cache;
  const int D = c->head_dim, cap = c->cap;
  for (int h = 0; h < c->heads; h++) {
    const float *q = c->query + h * D;
    const float *K = c->keys + (size_t)h * cap * D;
    const float *V = c->values + (size_t)h * cap * D;
    float *acc = p->acc + h * D;
    float mx = -FLT_MAX;
    for (int t = p->from; t < p->to; t++) {
      const float *k = K + (size_t)t * D;
      float s = 0.0f;
      for (int d = 0; d < D; d++) s += q[d] * k[d];
      s *= c->scale;
      p->scores[t - p->from] = s;
      if (s > mx) mx = s;
    }
    float sum = 0.0f;
    for (int t = p->from; t < p->to; t++) {
      float e = expf(p->scores[t - p->from] - mx);
      p->scores[t - p->from] = e;
      sum += e;
    }
    for (int d = 0; d < D; d++) acc[d] = 0.0f;
    for (int t = p->from; t < p->to; t++) {
      const float *v = V + (size_t)t * D;
      const float w = p->scores[t - p->from];
      for (int d = 0; d < D; d++) acc[d] += w * v[d];
    }
    p->max[h] = mx;
    p->sum[h] = sum;
  }
}

static Cache cache;
static Part parts[MAX_THREADS];
static pthread_t worker;
static pthread_barrier_t start_barrier, done_barrier;
static int worker_running = 0, worker_quit = 0;

static void *worker_main(void *arg) {
  (void)arg;
  for (;;) {
    pthread_barrier_wait(&start_barrier);
    if (worker_quit) return NULL;
    attend_part(&parts[1]);
    pthread_barrier_wait(&done_barrier);
  }
}

static void stop_worker(void) {
  if (!worker_running) return;
  worker_quit = 1;
  pthread_barrier_wait(&start_barrier);
  pthread_join(worker, NULL);
  pthread_barrier_destroy(&start_barrier);
  pthread_barrier_destroy(&done_barrier);
  worker_running = 0;
  worker_quit = 0;
}

static void free_cache(void) {
  stop_worker();
  free(cache.keys);
  free(cache.values);
  free(cache.query);
  free(cache.out);
  for (int i = 0; i < MAX_THREADS; i++) {
    free(parts[i].scores);
    free(parts[i].max);
    free(parts[i].sum);
    free(parts[i].acc);
  }
  memset(&cache, 0, sizeof cache);
  memset(parts, 0, sizeof parts);
}

static int alloc_cache(int heads, int head_dim, int cap, int threads) {
  free_cache();
  cache.heads = heads;
  cache.head_dim = head_dim;
  cache.cap = cap;
  cache.len = 0;
  cache.threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
  cache.scale = 1.0f / sqrtf((float)head_dim);
  size_t n = (size_t)heads * cap * head_dim;
  cache.keys = aligned64(n * sizeof(float));
  cache.values = aligned64(n * sizeof(float));
  cache.query = aligned64((size_t)heads * head_dim * sizeof(float));
  cache.out = aligned64((size_t)heads * head_dim * sizeof(float));
  if (!cache.keys || !cache.values || !cache.query || !cache.out) return 0;
  for (int i = 0; i < cache.threads; i++) {
    parts[i].cache = &cache;
    parts[i].scores = aligned64((size_t)cap * sizeof(float));
    parts[i].max = aligned64((size_t)heads * sizeof(float));
    parts[i].sum = aligned64((size_t)heads * sizeof(float));
    parts[i].acc = aligned64((size_t)heads * head_dim * sizeof(float));
    if (!parts[i].scores || !parts[i].max || !parts[i].sum || !parts[i].acc) return 0;
  }
  if (cache.threads > 1) {
    pthread_barrier_init(&start_barrier, NULL, 2);
    pthread_barrier_init(&done_barrier, NULL, 2);
    if (pthread_create(&worker, NULL, worker_main, NULL) != 0) return 0;
    worker_running = 1;
  }
  return 1;
}

/* The rows of token t, [H][D] each: query, key and value as the model would hand them over. */
static void token_rows(float *rows, uint32_t seed, int t) {
  const int m = cache.heads * cache.head_dim;
  for (int i = 0; i < m; i++) rows[i] = value(seed, (uint32_t)t * m + i);
}

/* The append: key and value rows ([H][D]) into slot t of every head. */
static void append_token(int t, const float *k, const float *v) {
  const int H = cache.heads, D = cache.head_dim;
  for (int h = 0; h < H; h++) {
    memcpy(cache.keys + ((size_t)h * cache.cap + t) * D, k + h * D, D * sizeof(float));
    memcpy(cache.values + ((size_t)h * cache.cap + t) * D, v + h * D, D * sizeof(float));
  }
  cache.len = t + 1;
}

/* out = attention of cache.query over keys [0, cache.len). */
static void attend(void) {
  const int H = cache.heads, D = cache.head_dim, n = cache.len;
  if (cache.threads == 1) {
    parts[0].from = 0;
    parts[0].to = n;
    attend_part(&parts[0]);
    for (int h = 0; h < H; h++)
      for (int d = 0; d < D; d++) cache.out[h * D + d] = parts[0].acc[h * D + d] / parts[0].sum[h];
    return;
  }
  parts[0].from = 0;
  parts[0].to = n / 2;
  parts[1].from = n / 2;
  parts[1].to = n;
  pthread_barrier_wait(&start_barrier);
  attend_part(&parts[0]);
  pthread_barrier_wait(&done_barrier);
  for (int h = 0; h < H; h++) {
    /* An empty half has max -FLT_MAX, sum 0 and contributes nothing. */
    float m0 = parts[0].max[h], m1 = parts[1].max[h];
    float m = m0 > m1 ? m0 : m1;
    float a0 = parts[0].to > parts[0].from ? expf(m0 - m) : 0.0f;
    float a1 = parts[1].to > parts[1].from ? expf(m1 - m) : 0.0f;
    float inv = 1.0f / (a0 * parts[0].sum[h] + a1 * parts[1].sum[h]);
    for (int d = 0; d < D; d++) {
      float o = 0.0f;
      if (a0 != 0.0f) o += a0 * parts[0].acc[h * D + d];
      if (a1 != 0.0f) o += a1 * parts[1].acc[h * D + d];
      cache.out[h * D + d] = o * inv;
    }
  }
}

static void print_output(void) {
  const int m = cache.heads * cache.head_dim;
  printf("\"output\":[");
  for (int i = 0; i < m; i++) printf(i ? ",%.9g" : "%.9g", cache.out[i]);
  printf("]");
}

static void fail(const char *message) {
  printf("{\"error\":\"%s\"}\n", message);
  fflush(stdout);
}

static void command_setup(int heads, int head_dim, int n, int threads) {
  double t0 = now_seconds();
  if (!alloc_cache(heads, head_dim, n + 1, threads)) {
    fail("out of memory");
    return;
  }
  float *k = aligned64((size_t)heads * head_dim * sizeof(float));
  float *v = aligned64((size_t)heads * head_dim * sizeof(float));
  for (int t = 0; t < n; t++) {
    token_rows(k, SEED_K, t);
    token_rows(v, SEED_V, t);
    append_token(t, k, v);
  }
  free(k);
  free(v);
  printf("{\"ok\":true,\"setupSeconds\":%.6f}\n", now_seconds() - t0);
  fflush(stdout);
}

static void command_steps(int count) {
  const int n = cache.cap - 1;
  if (cache.keys == NULL || count < 1) {
    fail("steps before setup");
    return;
  }
  const size_t m = (size_t)cache.heads * cache.head_dim;
  double *times = aligned64((size_t)count * sizeof(double));
  float *k = aligned64(m * sizeof(float));
  float *v = aligned64(m * sizeof(float));
  token_rows(cache.query, SEED_Q, n);
  token_rows(k, SEED_K, n);
  token_rows(v, SEED_V, n);
  for (int i = 0; i < count; i++) {
    double t0 = now_seconds();
    append_token(n, k, v);
    attend();
    cache.len = n; /* roll back */
    times[i] = (now_seconds() - t0) * 1e6;
  }
  printf("{\"times\":[");
  for (int i = 0; i < count; i++) printf(i ? ",%.3f" : "%.3f", times[i]);
  printf("],");
  print_output();
  printf("}\n");
  fflush(stdout);
  free(times);
  free(k);
  free(v);
}

static void command_stream(int heads, int head_dim, int tokens, int threads) {
  if (!alloc_cache(heads, head_dim, tokens, threads)) {
    fail("out of memory");
    return;
  }
  /* Every token's rows are made before the clock starts: the stream times attention, not the hash. */
  const size_t m = (size_t)heads * head_dim;
  float *qs = aligned64((size_t)tokens * m * sizeof(float));
  float *ks = aligned64((size_t)tokens * m * sizeof(float));
  float *vs = aligned64((size_t)tokens * m * sizeof(float));
  if (!qs || !ks || !vs) {
    fail("out of memory");
    return;
  }
  for (int t = 0; t < tokens; t++) {
    token_rows(qs + t * m, SEED_Q, t);
    token_rows(ks + t * m, SEED_K, t);
    token_rows(vs + t * m, SEED_V, t);
  }
  double t0 = now_seconds();
  for (int t = 0; t < tokens; t++) {
    memcpy(cache.query, qs + t * m, m * sizeof(float));
    append_token(t, ks + t * m, vs + t * m);
    attend();
  }
  double seconds = now_seconds() - t0;
  printf("{\"seconds\":%.6f,", seconds);
  print_output();
  printf("}\n");
  fflush(stdout);
  free(qs);
  free(ks);
  free(vs);
  free_cache();
}

static void command_bandwidth(int mib) {
  size_t n = (size_t)mib * 1024 * 1024 / sizeof(double);
  double *a = aligned64(n * sizeof(double));
  if (!a) {
    fail("out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) a[i] = (double)(i & 1023);
  double best = 0.0, total = 0.0;
  for (int r = 0; r < 5; r++) {
    double t0 = now_seconds();
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i];
    double seconds = now_seconds() - t0;
    total += s;
    double gbps = (double)n * sizeof(double) / seconds / 1e9;
    if (gbps > best) best = gbps;
  }
  printf("{\"gbPerSecond\":%.3f,\"checksum\":%.1f}\n", best, total);
  fflush(stdout);
  free(a);
}

int main(void) {
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    int a, b, c, d;
    if (sscanf(line, "setup %d %d %d %d", &a, &b, &c, &d) == 4) command_setup(a, b, c, d);
    else if (sscanf(line, "steps %d", &a) == 1) command_steps(a);
    else if (sscanf(line, "stream %d %d %d %d", &a, &b, &c, &d) == 4) command_stream(a, b, c, d);
    else if (sscanf(line, "bandwidth %d", &a) == 1) command_bandwidth(a);
    else if (strncmp(line, "quit", 4) == 0) break;
    else fail("unknown command");
  }
  free_cache();
  return 0;
}
