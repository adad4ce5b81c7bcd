;; attnstream's attention kernels in WebAssembly SIMD: the fast twins of the engine's TypeScript
;; loops (scores: src/kernels/dot.ts; softmax: src/kernels/softmax.ts; mix: the weighted sum of
;; values). Compiled by scripts/build-wasm.ts into attention-wasm.generated.ts, which embeds the
;; bytes so the core loads without file access; compiled a second time with every f32x4 sum of a
;; product fused into one relaxed_madd (scripts/fuse-multiply-adds.ts), the build the arena runs
;; where the runtime has relaxed SIMD. Orders of operations stated below are this text's; in the
;; fused build each product and the sum it joins round once.
;;
;; Keys, values and the query are float32 (the cache's storage); scores, maxima, sums and head
;; outputs are float64; the exponentials are float32. Within one call (one row's dot product, one
;; block's weighted sum) products and sums are float32 in four lanes (f32x4), as llama.cpp and the
;; C reference compute; each call's result is widened to float64, so the sums across blocks and the
;; normalisation run in float64. The error this adds is bounded in docs/math.md and stays inside the
;; float32 tolerances.
;;
;; Pointers are byte offsets into the imported memory; nothing here allocates.
(module
  (memory (import "env" "memory") 1)

  ;; The exponential's constants (used by $exponentiate below). Mutable, though never written, so
  ;; that V8 reads them from memory: it folds an immutable or inline v128.const into the loop and
  ;; builds it there, three instructions a use on the shuffle port (a move to a general register, one
  ;; to a vector, a broadcast), 12 constants every four scores. Loaded instead: 4.7 -> 3.8 ns a score
  ;; (n = 1,024, in isolation). Hoisting them into locals did not help; V8 sees through the locals.
  (global $exp_floor (mut v128) (v128.const f32x4 -44.3614195558365 -44.3614195558365 -44.3614195558365 -44.3614195558365))
  (global $exp_log2e (mut v128) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
  (global $exp_round (mut v128) (v128.const f32x4 12583039 12583039 12583039 12583039))
  (global $exp_ln2_high (mut v128) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
  (global $exp_ln2_low (mut v128) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))
  (global $exp_c5 (mut v128) (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
  (global $exp_c4 (mut v128) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3))
  (global $exp_c3 (mut v128) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3))
  (global $exp_c2 (mut v128) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2))
  (global $exp_c1 (mut v128) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1))
  (global $exp_c0 (mut v128) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1))
  (global $exp_one (mut v128) (v128.const f32x4 1 1 1 1))

  ;; $cap_scores' constants, loaded from memory for the reason above.
  (global $tanh_floor (mut v128) (v128.const f64x2 -40.0 -40.0))
  (global $tanh_minus_two (mut v128) (v128.const f64x2 -2.0 -2.0))
  (global $tanh_log2e (mut v128) (v128.const f64x2 1.4426950408889634 1.4426950408889634))
  (global $tanh_round (mut v128) (v128.const f64x2 6755399441055744.0 6755399441055744.0))
  (global $tanh_ln2_high (mut v128) (v128.const f64x2 0.6931471803691238 0.6931471803691238))
  (global $tanh_ln2_low (mut v128) (v128.const f64x2 1.9082149292705877e-10 1.9082149292705877e-10))
  (global $tanh_c13 (mut v128) (v128.const f64x2 1.6059043836821613e-10 1.6059043836821613e-10))
  (global $tanh_c12 (mut v128) (v128.const f64x2 2.08767569878681e-09 2.08767569878681e-09))
  (global $tanh_c11 (mut v128) (v128.const f64x2 2.505210838544172e-08 2.505210838544172e-08))
  (global $tanh_c10 (mut v128) (v128.const f64x2 2.755731922398589e-07 2.755731922398589e-07))
  (global $tanh_c9 (mut v128) (v128.const f64x2 2.7557319223985893e-06 2.7557319223985893e-06))
  (global $tanh_c8 (mut v128) (v128.const f64x2 2.48015873015873e-05 2.48015873015873e-05))
  (global $tanh_c7 (mut v128) (v128.const f64x2 0.0001984126984126984 0.0001984126984126984))
  (global $tanh_c6 (mut v128) (v128.const f64x2 0.001388888888888889 0.001388888888888889))
  (global $tanh_c5 (mut v128) (v128.const f64x2 0.008333333333333333 0.008333333333333333))
  (global $tanh_c4 (mut v128) (v128.const f64x2 0.041666666666666664 0.041666666666666664))
  (global $tanh_c3 (mut v128) (v128.const f64x2 0.16666666666666666 0.16666666666666666))
  (global $tanh_c2 (mut v128) (v128.const f64x2 0.5 0.5))
  (global $tanh_one (mut v128) (v128.const f64x2 1.0 1.0))
  (global $tanh_bias (mut v128) (v128.const i64x2 1023 1023))
  (global $tanh_sign (mut v128) (v128.const i64x2 0x8000000000000000 0x8000000000000000))

  ;; out[r] = scale · Σ_c q[c]·k[r·d + c] for r in [0, count): one float32 query against `count`
  ;; contiguous float32 key rows. When d is a multiple of 4, rows go four at a time: each 8-channel
  ;; pass loads the query once for all four and adds a row's two products together before its
  ;; accumulator, and the four rows' lanes are summed by shuffles into one vector of four scores.
  ;; The four are a quarter of the rows apart (r, r + q, r + 2q, r + 3q, q the count over 4 rounded
  ;; down), not adjacent: four streams far apart keep more cache-line reads in flight than one,
  ;; and keys streamed from DRAM at ~9.6 GB/s instead of ~5.4 (L3: ~14 against ~10; from L2 the
  ;; same; 64-row calls, headDim 64 and 128, interleaved in one process). Each row's sum is the
  ;; same either way.
  ;; One accumulator per row, not two: with eight, V8 ran out of registers and kept two of them in
  ;; memory, a store and reload on every pass (about 12 % slower, measured). Every row when d is not
  ;; a multiple of 4 takes $score_rows.
  (func $scores (export "scores") (param $q i32) (param $k i32) (param $count i32) (param $d i32) (param $scale f64) (param $out i32)
    (local $count4 i32) (local $quarter i32) (local $qstride i32)
    (if (i32.and (local.get $d) (i32.const 3))
      (then (call $score_rows (local.get $q) (local.get $k) (local.get $count) (local.get $d) (local.get $scale) (local.get $out)) (return)))
    (local.set $count4 (i32.and (local.get $count) (i32.const -4)))
    (local.set $quarter (i32.shr_u (local.get $count4) (i32.const 2)))
    (local.set $qstride (i32.mul (local.get $quarter) (i32.shl (local.get $d) (i32.const 2))))
    (call $score_streams (local.get $q)
      (local.get $k)
      (i32.add (local.get $k) (local.get $qstride))
      (i32.add (local.get $k) (i32.shl (local.get $qstride) (i32.const 1)))
      (i32.add (local.get $k) (i32.mul (local.get $qstride) (i32.const 3)))
      (local.get $quarter) (local.get $d) (local.get $scale) (local.get $out) (i32.shl (local.get $quarter) (i32.const 3)))
    ;; The rows left over go through the same pass: a row's score must not depend on where its key
    ;; falls in a run, or identical keys would get weights apart by their scores' last bits (far
    ;; apart where scores are large). With four rows or more, the last four are scored again in one
    ;; pass (those already scored get the same bits); with fewer, as four equal streams writing to
    ;; one place (each row costs four rows' work, and there are at most three). A full block's run
    ;; has none: no call (V8 saves and restores the frame around one).
    (if (i32.lt_u (local.get $count4) (local.get $count))
      (then
        (if (local.get $count4)
          (then
            (local.set $k (i32.add (local.get $k) (i32.mul (i32.sub (local.get $count) (i32.const 4)) (i32.shl (local.get $d) (i32.const 2)))))
            (call $score_streams (local.get $q) (local.get $k)
              (i32.add (local.get $k) (i32.shl (local.get $d) (i32.const 2)))
              (i32.add (local.get $k) (i32.shl (local.get $d) (i32.const 3)))
              (i32.add (local.get $k) (i32.mul (local.get $d) (i32.const 12)))
              (i32.const 1) (local.get $d) (local.get $scale)
              (i32.add (local.get $out) (i32.shl (i32.sub (local.get $count) (i32.const 4)) (i32.const 3)))
              (i32.const 8)))
          (else
            (call $score_streams (local.get $q) (local.get $k) (local.get $k) (local.get $k) (local.get $k)
              (local.get $count) (local.get $d) (local.get $scale) (local.get $out) (i32.const 0)))))))

  ;; Four streams of `rows` contiguous float32 key rows each, from k0, k1, k2 and k3 (d a multiple
  ;; of 4), scored against one float32 query four rows at a time, a row of each stream: stream j's
  ;; row r goes to out + j·ostride + 8r. $scores makes the four streams of one run, a quarter of its
  ;; rows apart; $attend makes them of four runs of equal length: four streams of a whole block
  ;; each instead of four of a quarter block, each long enough for the prefetchers to stay ahead
  ;; (see $attend). A row's score is computed the same way in either.
  (func $score_streams (param $q i32) (param $k0 i32) (param $k1 i32) (param $k2 i32) (param $k3 i32) (param $rows i32) (param $d i32) (param $scale f64) (param $out i32) (param $ostride i32)
    (local $r i32) (local $p i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $qp i32) (local $qend i32)
    (local $stride i32) (local $o i32)
    (local $q0 v128) (local $q1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $t0 v128) (local $t1 v128)
    (local.set $stride (i32.shl (local.get $d) (i32.const 2)))
    ;; the query's 8-channel passes end here; a last 4 channels follow when d mod 8 = 4
    (local.set $qend (i32.add (local.get $q) (i32.shl (i32.and (local.get $d) (i32.const -8)) (i32.const 2))))
    (block $groups_done
      (loop $groups
        (br_if $groups_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $p (i32.add (local.get $k0) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $p1 (i32.add (local.get $k1) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $p2 (i32.add (local.get $k2) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $p3 (i32.add (local.get $k3) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $qp (local.get $q))
        (block $eights_done
          (loop $eights
            (br_if $eights_done (i32.ge_u (local.get $qp) (local.get $qend)))
            (local.set $q0 (v128.load align=4 (local.get $qp)))
            (local.set $q1 (v128.load offset=16 align=4 (local.get $qp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.add (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p)))
              (f32x4.mul (local.get $q1) (v128.load offset=16 align=4 (local.get $p))))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.add (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p1)))
              (f32x4.mul (local.get $q1) (v128.load offset=16 align=4 (local.get $p1))))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.add (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p2)))
              (f32x4.mul (local.get $q1) (v128.load offset=16 align=4 (local.get $p2))))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.add (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p3)))
              (f32x4.mul (local.get $q1) (v128.load offset=16 align=4 (local.get $p3))))))
            (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (local.set $p1 (i32.add (local.get $p1) (i32.const 32)))
            (local.set $p2 (i32.add (local.get $p2) (i32.const 32)))
            (local.set $p3 (i32.add (local.get $p3) (i32.const 32)))
            (br $eights)))
        ;; 4 more channels when d mod 8 = 4
        (if (i32.and (local.get $d) (i32.const 4))
          (then
            (local.set $q0 (v128.load align=4 (local.get $qp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p1)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p2)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $q0) (v128.load align=4 (local.get $p3)))))))
        ;; Row j's four lanes sum to its score: pair lanes (0,1)+(2,3) of rows 0,1 and of rows 2,3,
        ;; then even+odd lanes of those: [row 0, row 1, row 2, row 3].
        (local.set $t0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
        (local.set $t1 (f32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a2) (local.get $a3))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a2) (local.get $a3))))
        (local.set $a0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $t0) (local.get $t1))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $t0) (local.get $t1))))
        (local.set $t0 (f64x2.mul (f64x2.splat (local.get $scale)) (f64x2.promote_low_f32x4 (local.get $a0))))
        (local.set $t1 (f64x2.mul (f64x2.splat (local.get $scale))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a0) (local.get $a0)))))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3))))
        (f64.store (local.get $o) (f64x2.extract_lane 0 (local.get $t0)))
        (f64.store (i32.add (local.get $o) (local.get $ostride)) (f64x2.extract_lane 1 (local.get $t0)))
        (f64.store (i32.add (local.get $o) (i32.shl (local.get $ostride) (i32.const 1))) (f64x2.extract_lane 0 (local.get $t1)))
        (f64.store (i32.add (local.get $o) (i32.mul (local.get $ostride) (i32.const 3))) (f64x2.extract_lane 1 (local.get $t1)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $groups))))

  ;; scores when d is not a multiple of 4, one row at a time: 4 channels per f32x4 pass, the last d mod 4 one by one.
  (func $score_rows (param $q i32) (param $k i32) (param $count i32) (param $d i32) (param $scale f64) (param $out i32)
    (local $r i32) (local $c i32) (local $row i32) (local $a v128) (local $s f32) (local $d4 i32)
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (local.set $row (local.get $k))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $count)))
        (local.set $a (v128.const i64x2 0 0))
        (local.set $s (f32.const 0))
        (local.set $c (i32.const 0))
        (block $fours_done
          (loop $fours
            (br_if $fours_done (i32.ge_u (local.get $c) (local.get $d4)))
            (local.set $a (f32x4.add (local.get $a)
              (f32x4.mul
                (v128.load align=4 (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
                (v128.load align=4 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 2)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $fours)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $d)))
            (local.set $s (f32.add (local.get $s) (f32.mul
              (f32.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
              (f32.load (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 2)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3)))
          (f64.mul (local.get $scale) (f64.promote_f32
            (f32.add (local.get $s)
              (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
                (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a))))))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; e[0 : n] ← e^(p[0 : n] − max), the exponentials of a stretch of float64 scores as float32 (the
  ;; precision mix multiplies them in), four at a time; the maximum (float64) and the sum (float64,
  ;; of the float32 exponentials) go to partial[0] and partial[1], and the sum is returned: at least
  ;; 1, or a non-finite number when a score was not finite (the caller's overflow check). The
  ;; weights stay unnormalised: the engine divides once per head output, not once per key. For
  ;; scores that are not NaN the maximum is exactly Math.max's (+0 above -0).
  ;;
  ;; e^x for x ≤ 0 (a score minus the maximum), to about 1 ulp of float32: the weights are float32
  ;; from here on, so a float64 exp would buy nothing. x = k·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2
  ;; split in two so k·ln 2 is exact), e^r by Cephes' expf polynomial, summed by Estrin's scheme
  ;; (a chain of four operations instead of Horner's ten: the loop is bound by the latency of one
  ;; pass's chain, 1.95 -> 1.73 ns a score), 2^k built in the exponent bits: k is rounded by adding
  ;; 1.5·2²³ + 127, which leaves k plus the exponent's bias in the low bits of the sum, so those
  ;; bits shifted left by 23 are 2^k.
  ;;
  ;; Below x = −64·ln 2 the exponential is exactly 0. Beside the maximum's weight of 1, fewer than
  ;; 2^40 such weights together could not move the float32 sum of the weights, and they move an
  ;; output by at most n·2^-64·max|v|, far inside mix's own bound of (rows + 2)·2^-24·max|v| (though
  ;; visible against an output where a value 1e14 times the winner's meets such a weight: the
  ;; TypeScript kernels keep it); below it mix's products w·v turned subnormal (under 2^-126) for
  ;; ordinary values: x86 computes those
  ;; through microcode assists of ~100 cycles and WebAssembly has no flush-to-zero mode, so a
  ;; sharply peaked softmax (scores far apart) ran its step 3.6–9× slower (H = 8, D = 128,
  ;; n = 8,192; the bench's sharpness section). x is clamped there too, which keeps 2^k normal. The
  ;; comparison is false for a NaN, and pmax keeps a NaN in x (its first operand), so a NaN or +∞
  ;; score shows in the sum; a −∞ one (a float32 dot product past −3.4e38, whose weight in float64
  ;; arithmetic need not be 0) makes the sum NaN too: the engine then runs the step in float64.
  (func $exponentiate (export "exponentiate") (param $p i32) (param $n i32) (param $e i32) (param $partial i32) (result f64)
    (local $i i32) (local $n4 i32) (local $at i32) (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $max f64)
    (local $x v128) (local $flushed v128) (local $kb v128) (local $k v128) (local $r v128) (local $r2 v128) (local $poly v128)
    (local $sum v128) (local $total f64) (local $low v128) (local $min f64)
   
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    ;; The maximum in four vectors in turn, so no pass waits on the last, by pmax (one instruction;
    ;; IEEE's f64x2.max is eight in V8, and a single chain of it took a third of the pass). pmax
    ;; answers a tie of +0 and -0 by their order and may step over a NaN; the tie is settled below,
    ;; and a NaN or +∞ score still makes the sum non-finite.
    (local.set $m0 (v128.const f64x2 -inf -inf))
    (local.set $m1 (local.get $m0))
    (local.set $m2 (local.get $m0))
    (local.set $m3 (local.get $m0))
    ;; and the minimum, for a −∞ score (one more instruction a pair, where the loads bound the pass)
    (local.set $low (v128.const f64x2 inf inf))
    (block $max_done
      (loop $max_loop
        (br_if $max_done (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $n)))
        (local.set $at (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $x (v128.load align=8 (local.get $at)))
        (local.set $m0 (f64x2.pmax (local.get $m0) (local.get $x)))
        (local.set $low (f64x2.pmin (local.get $low) (local.get $x)))
        (local.set $x (v128.load offset=16 align=8 (local.get $at)))
        (local.set $m1 (f64x2.pmax (local.get $m1) (local.get $x)))
        (local.set $low (f64x2.pmin (local.get $low) (local.get $x)))
        (local.set $x (v128.load offset=32 align=8 (local.get $at)))
        (local.set $m2 (f64x2.pmax (local.get $m2) (local.get $x)))
        (local.set $low (f64x2.pmin (local.get $low) (local.get $x)))
        (local.set $x (v128.load offset=48 align=8 (local.get $at)))
        (local.set $m3 (f64x2.pmax (local.get $m3) (local.get $x)))
        (local.set $low (f64x2.pmin (local.get $low) (local.get $x)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $max_loop)))
    (local.set $m0 (f64x2.pmax (f64x2.pmax (local.get $m0) (local.get $m1)) (f64x2.pmax (local.get $m2) (local.get $m3))))
    (local.set $max (f64.max (f64x2.extract_lane 0 (local.get $m0)) (f64x2.extract_lane 1 (local.get $m0))))
    (local.set $min (f64.min (f64x2.extract_lane 0 (local.get $low)) (f64x2.extract_lane 1 (local.get $low))))
    (block $max_rest_done
      (loop $max_rest
        (br_if $max_rest_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $max (f64.max (local.get $max) (f64.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $min (f64.min (local.get $min) (f64.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $max_rest)))
    ;; A zero maximum is +0 when any score is +0, as Math.max has it (rare, so checked apart).
    (if (f64.eq (local.get $max) (f64.const 0))
      (then
        (local.set $max (f64.const -0))
        (local.set $i (i32.const 0))
        (block $zero_done
          (loop $zero
            (br_if $zero_done (i32.ge_u (local.get $i) (local.get $n)))
            (if (i64.eqz (i64.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3)))))
              (then (local.set $max (f64.const 0)) (br $zero_done)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $zero)))))
    (local.set $m0 (f64x2.splat (local.get $max)))
    (local.set $sum (v128.const i64x2 0 0))
    ;; Four scores per pass: two float64 pairs narrowed into one f32x4, exponentiated (inline: a
    ;; call per pass cost more than the polynomial, V8 saving and restoring the vectors around
    ;; it), stored and summed. The last n mod 4 scores take one more pass, padded with zeros, their
    ;; exponentials added one by one after the others' sum.
    (local.set $i (i32.const 0))
    (block $exp_done
      (loop $exp_loop
        (br_if $exp_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))
        (if (i32.lt_u (local.get $i) (local.get $n4))
          (then
            (local.set $x (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.sub (v128.load align=8 (local.get $at)) (local.get $m0)))
              (f32x4.demote_f64x2_zero (f64x2.sub (v128.load offset=16 align=8 (local.get $at)) (local.get $m0))))))
          (else
            (local.set $x (f32x4.replace_lane 0 (v128.const i64x2 0 0) (f32.demote_f64 (f64.sub (f64.load (local.get $at)) (local.get $max)))))
            (if (i32.gt_u (i32.sub (local.get $n) (local.get $i)) (i32.const 1))
              (then (local.set $x (f32x4.replace_lane 1 (local.get $x) (f32.demote_f64 (f64.sub (f64.load offset=8 (local.get $at)) (local.get $max)))))))
            (if (i32.gt_u (i32.sub (local.get $n) (local.get $i)) (i32.const 2))
              (then (local.set $x (f32x4.replace_lane 2 (local.get $x) (f32.demote_f64 (f64.sub (f64.load offset=16 (local.get $at)) (local.get $max)))))))))
        (local.set $flushed (f32x4.lt (local.get $x) (global.get $exp_floor)))
        (local.set $x (f32x4.pmax (local.get $x) (global.get $exp_floor)))
        (local.set $kb (f32x4.add
          (f32x4.mul (local.get $x) (global.get $exp_log2e))
          (global.get $exp_round)))
        (local.set $k (f32x4.sub (local.get $kb) (global.get $exp_round)))
        (local.set $r (f32x4.add
          (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (global.get $exp_ln2_high)))
          (f32x4.mul (local.get $k) (global.get $exp_ln2_low))))
        (local.set $r2 (f32x4.mul (local.get $r) (local.get $r)))
        (local.set $poly (f32x4.add
          (f32x4.add
            (f32x4.add (global.get $exp_c0) (f32x4.mul (global.get $exp_c1) (local.get $r)))
            (f32x4.mul (f32x4.add (global.get $exp_c2) (f32x4.mul (global.get $exp_c3) (local.get $r))) (local.get $r2)))
          (f32x4.mul (f32x4.add (global.get $exp_c4) (f32x4.mul (global.get $exp_c5) (local.get $r))) (f32x4.mul (local.get $r2) (local.get $r2)))))
        ;; e^r ≈ 1 + r + r²·p(r)
        (local.set $poly (f32x4.add
          (f32x4.add (f32x4.mul (local.get $r2) (local.get $poly)) (local.get $r))
          (global.get $exp_one)))
        (local.set $x (v128.andnot
          (f32x4.mul (local.get $poly) (i32x4.shl (local.get $kb) (i32.const 23)))
          (local.get $flushed)))
        (local.set $at (i32.add (local.get $e) (i32.shl (local.get $i) (i32.const 2))))
        (if (i32.lt_u (local.get $i) (local.get $n4))
          (then
            (v128.store align=4 (local.get $at) (local.get $x))
            (local.set $sum (f64x2.add (local.get $sum) (f64x2.add
              (f64x2.promote_low_f32x4 (local.get $x))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))))))
          (else
            (local.set $total (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))))
            (f32.store (local.get $at) (f32x4.extract_lane 0 (local.get $x)))
            (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 0 (local.get $x)))))
            (if (i32.gt_u (i32.sub (local.get $n) (local.get $i)) (i32.const 1))
              (then
                (f32.store offset=4 (local.get $at) (f32x4.extract_lane 1 (local.get $x)))
                (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 1 (local.get $x)))))))
            (if (i32.gt_u (i32.sub (local.get $n) (local.get $i)) (i32.const 2))
              (then
                (f32.store offset=8 (local.get $at) (f32x4.extract_lane 2 (local.get $x)))
                (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32x4.extract_lane 2 (local.get $x)))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $exp_loop)))
    (if (i32.eq (local.get $n4) (local.get $n))
      (then (local.set $total (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum))))))
    (if (f64.eq (local.get $min) (f64.const -inf)) (then (local.set $total (f64.const nan))))
    (f64.store (local.get $partial) (local.get $max))
    (f64.store offset=8 (local.get $partial) (local.get $total))
    (local.get $total))

  ;; The soft cap, s -> cap·tanh(s / cap), over the n float64 scores at p, in place (Gemma 2's
  ;; logit soft-capping; the TypeScript path calls Math.tanh). Two scores a pass, in float64: with
  ;; z = (|s| / cap)·-2 and m = e^z - 1, tanh|s / cap| = -m / (m + 2), and the sign of s goes back on.
  ;; |s| / cap is rounded as the TypeScript path's s / cap is; a slope -2 / cap would be -∞ for a
  ;; cap below 1.1e-308, and a score of 0 would then make 0·-∞ = NaN.
  ;; m comes from z = k·ln 2 + r (|r| <= ln 2 / 2, k rounded as $exponentiate rounds it) as
  ;; 2^k·p + (2^k - 1), p = e^r - 1 by its Taylor series to r^13 (the next term is under 5e-18):
  ;; a tiny score keeps its relative precision instead of losing it to 1 - e^z. z is clamped at
  ;; -40, where tanh is 1 to float64's precision (e^-40 < 5e-18). A ±∞ score stays ±∞ (a float32
  ;; dot product past ±3.4e38, whose float64 value the cap need not saturate: $exponentiate says
  ;; so, and the engine runs the step in float64); a NaN stays NaN (pmax keeps its first operand).
  (func $cap_scores (export "cap_scores") (param $p i32) (param $n i32) (param $cap f64)
    (local $i i32) (local $at i32) (local $s v128) (local $z v128) (local $kb v128) (local $k v128)
    (local $r v128) (local $poly v128) (local $m v128) (local $c v128) (local $x v128)
    (local $r2 v128) (local $r4 v128) (local $b0 v128) (local $b1 v128) (local $b2 v128)
    (local.set $c (f64x2.splat (local.get $cap)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $at (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 3))))
        ;; the last score of an odd n fills both lanes; only the first is stored
        (local.set $s (if (result v128) (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))
          (then (v128.load align=8 (local.get $at)))
          (else (f64x2.splat (f64.load (local.get $at))))))
        (local.set $z (f64x2.pmax (f64x2.mul (f64x2.div (f64x2.abs (local.get $s)) (local.get $c)) (global.get $tanh_minus_two)) (global.get $tanh_floor)))
        (local.set $kb (f64x2.add (f64x2.mul (local.get $z) (global.get $tanh_log2e)) (global.get $tanh_round)))
        (local.set $k (f64x2.sub (local.get $kb) (global.get $tanh_round)))
        (local.set $r (f64x2.sub
          (f64x2.sub (local.get $z) (f64x2.mul (local.get $k) (global.get $tanh_ln2_high)))
          (f64x2.mul (local.get $k) (global.get $tanh_ln2_low))))
        ;; e^r - 1 = r·(1 + r/2! + … + r^12/13!), the sum by Estrin's scheme (four terms at a time,
        ;; then by r⁴ and r⁸): a chain five operations deep instead of Horner's twenty-four.
        (local.set $r2 (f64x2.mul (local.get $r) (local.get $r)))
        (local.set $r4 (f64x2.mul (local.get $r2) (local.get $r2)))
        (local.set $b0 (f64x2.add (f64x2.add (global.get $tanh_one) (f64x2.mul (global.get $tanh_c2) (local.get $r))) (f64x2.mul (f64x2.add (global.get $tanh_c3) (f64x2.mul (global.get $tanh_c4) (local.get $r))) (local.get $r2))))
        (local.set $b1 (f64x2.add (f64x2.add (global.get $tanh_c5) (f64x2.mul (global.get $tanh_c6) (local.get $r))) (f64x2.mul (f64x2.add (global.get $tanh_c7) (f64x2.mul (global.get $tanh_c8) (local.get $r))) (local.get $r2))))
        (local.set $b2 (f64x2.add (f64x2.add (global.get $tanh_c9) (f64x2.mul (global.get $tanh_c10) (local.get $r))) (f64x2.mul (f64x2.add (global.get $tanh_c11) (f64x2.mul (global.get $tanh_c12) (local.get $r))) (local.get $r2))))
        (local.set $poly (f64x2.mul (local.get $r) (f64x2.add
          (f64x2.add (local.get $b0) (f64x2.mul (local.get $b1) (local.get $r4)))
          (f64x2.mul (f64x2.add (local.get $b2) (f64x2.mul (global.get $tanh_c13) (local.get $r4))) (f64x2.mul (local.get $r4) (local.get $r4))))))
        ;; 2^k: k sits in the low bits of kb (see $exponentiate), plus the bias, shifted to the exponent
        (local.set $k (i64x2.shl (i64x2.add (local.get $kb) (global.get $tanh_bias)) (i32.const 52)))
        (local.set $m (f64x2.add (f64x2.mul (local.get $k) (local.get $poly)) (f64x2.sub (local.get $k) (global.get $tanh_one))))
        (local.set $x (f64x2.div (f64x2.neg (local.get $m)) (f64x2.sub (local.get $m) (global.get $tanh_minus_two))))
        (local.set $x (v128.or (f64x2.abs (f64x2.mul (local.get $c) (local.get $x))) (v128.and (local.get $s) (global.get $tanh_sign))))
        (local.set $x (v128.bitselect (local.get $s) (local.get $x) (f64x2.eq (f64x2.abs (local.get $s)) (v128.const f64x2 inf inf))))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n))
          (then (v128.store align=8 (local.get $at) (local.get $x)))
          (else (f64.store (local.get $at) (f64x2.extract_lane 0 (local.get $x)))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $pairs))))

  ;; out[c] += Σ_r w[r]·v_r[c] for c in [0, d): `count` float32 weights against the float32 value
  ;; rows of slots slot … slot + count − 1 of a kv head's values in a block, which lie in column
  ;; chunks (src/cache/value-layout.ts): columns [16j, 16j + 16) of every slot together, `chunk`
  ;; bytes apart, then the last d mod 16 columns, slot after slot. Columns outside, rows inside: a
  ;; chunk of 16 columns stays in four f32x4 registers across the rows, two rows a pass, each row's
  ;; products added in row order (then the last chunk's columns 4 at a time, then one by one),
  ;; reading the chunk's rows as one contiguous stretch; then it is widened and added to the
  ;; float64 output. With 32 columns in eight registers V8 hoisted the chunk's eight loads and kept
  ;; an accumulator in memory, a store and reload on every row: 16 columns two rows a pass ran
  ;; 1.5× faster from L2 and L3 (64-row runs, headDim 64), with the same sums in the same order.
  (func $mix (export "mix") (param $w i32) (param $v i32) (param $slot i32) (param $count i32) (param $d i32) (param $chunk i32) (param $out i32)
    (local $r i32) (local $c i32) (local $p i32) (local $stride i32) (local $wr v128) (local $w1 v128) (local $s f64) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $full i32) (local $rest i32) (local $pairs i32)
    (local.set $full (i32.and (local.get $d) (i32.const -16)))
    (local.set $pairs (i32.and (local.get $count) (i32.const -2)))
    ;; 16 columns per chunk
    (block $sixteens_done
      (loop $sixteens
        (br_if $sixteens_done (i32.ge_u (local.get $c) (local.get $full)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $p (i32.add (i32.add (local.get $v) (i32.mul (i32.shr_u (local.get $c) (i32.const 4)) (local.get $chunk))) (i32.shl (local.get $slot) (i32.const 6))))
        (local.set $r (i32.const 0))
        (block $pairs_done
          (loop $pairs_loop
            (br_if $pairs_done (i32.ge_u (local.get $r) (local.get $pairs)))
            (local.set $wr (v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $w1 (v128.load32_splat offset=4 (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $wr) (v128.load align=4 (local.get $p)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $wr) (v128.load offset=16 align=4 (local.get $p)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $wr) (v128.load offset=32 align=4 (local.get $p)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $wr) (v128.load offset=48 align=4 (local.get $p)))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w1) (v128.load offset=64 align=4 (local.get $p)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w1) (v128.load offset=80 align=4 (local.get $p)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w1) (v128.load offset=96 align=4 (local.get $p)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w1) (v128.load offset=112 align=4 (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (i32.const 128)))
            (local.set $r (i32.add (local.get $r) (i32.const 2)))
            (br $pairs_loop)))
        (if (i32.lt_u (local.get $r) (local.get $count))
          (then
            (local.set $wr (v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $wr) (v128.load align=4 (local.get $p)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $wr) (v128.load offset=16 align=4 (local.get $p)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $wr) (v128.load offset=32 align=4 (local.get $p)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $wr) (v128.load offset=48 align=4 (local.get $p)))))))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
        ;; Widened and added to the output in place, not by a call per vector: V8 keeps no vector
        ;; in a register across a call.
        (v128.store align=8 (local.get $o) (f64x2.add (v128.load align=8 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $a0))))
        (v128.store offset=16 align=8 (local.get $o) (f64x2.add (v128.load offset=16 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a0) (local.get $a0)))))
        (v128.store offset=32 align=8 (local.get $o) (f64x2.add (v128.load offset=32 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $a1))))
        (v128.store offset=48 align=8 (local.get $o) (f64x2.add (v128.load offset=48 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a1) (local.get $a1)))))
        (v128.store offset=64 align=8 (local.get $o) (f64x2.add (v128.load offset=64 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $a2))))
        (v128.store offset=80 align=8 (local.get $o) (f64x2.add (v128.load offset=80 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a2) (local.get $a2)))))
        (v128.store offset=96 align=8 (local.get $o) (f64x2.add (v128.load offset=96 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $a3))))
        (v128.store offset=112 align=8 (local.get $o) (f64x2.add (v128.load offset=112 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a3) (local.get $a3)))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $sixteens)))
    ;; The last d mod 16 columns: a chunk of that width after the full ones.
    (local.set $stride (i32.shl (i32.sub (local.get $d) (local.get $full)) (i32.const 2)))
    (local.set $rest (i32.add (i32.add (local.get $v) (i32.mul (i32.shr_u (local.get $d) (i32.const 4)) (local.get $chunk)))
      (i32.sub (i32.mul (local.get $slot) (local.get $stride)) (i32.shl (local.get $full) (i32.const 2)))))
    ;; 4 columns per chunk
    (block $fours_done
      (loop $fours
        (br_if $fours_done (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $d)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $p (i32.add (local.get $rest) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $fours_rows_done
          (loop $fours_rows
            (br_if $fours_rows_done (i32.ge_u (local.get $r) (local.get $count)))
            (local.set $wr (v128.load32_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $wr) (v128.load align=4 (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (local.get $stride)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $fours_rows)))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
        (v128.store align=8 (local.get $o) (f64x2.add (v128.load align=8 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $a0))))
        (v128.store offset=16 align=8 (local.get $o) (f64x2.add (v128.load offset=16 align=8 (local.get $o)) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a0) (local.get $a0)))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $fours)))
    ;; the last d mod 4 columns, one at a time, in float64
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $d)))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $s (f64.load (local.get $o)))
        (local.set $p (i32.add (local.get $rest) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $rows1_done
          (loop $rows1
            (br_if $rows1_done (i32.ge_u (local.get $r) (local.get $count)))
            (local.set $s (f64.add (local.get $s) (f64.mul
              (f64.promote_f32 (f32.load (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 2)))))
              (f64.promote_f32 (f32.load (local.get $p))))))
            (local.set $p (i32.add (local.get $p) (local.get $stride)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows1)))
        (f64.store (local.get $o) (local.get $s))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail))))

  ;; Scores over int8 key rows (a full block's keys, quantized per channel), in integers:
  ;; out[r] = scale·(unit·Σ_c v_c·k[r·d + c]), v the query times the block's key scales as integers
  ;; ($quantize_products: v_c = round(q_c·s_c / unit), |v_c| ≤ 2^29) held in two int16 halves,
  ;; v = hi·2^15 + lo (hi at $qv, lo from $low_halves, lo in [0, 2^15)). Each half's products are
  ;; summed by i32x4.dot_i16x8_s, exactly: a lane adds d/4 products of at most 127·2^15, below 2^31
  ;; for d ≤ 512 here (longer rows take $score_rows_int8, which empties its lanes every 256
  ;; channels), and the lanes and halves are added in float64, exactly too (below 2^53). So a row's
  ;; score is the same whichever function computes it, and the one rounding left is v's, at most
  ;; unit/2 = max_c|q_c·s_c|/2^30 per channel: over a row at most 127·d/2^29 of what the int8 keys
  ;; themselves leave (docs/math.md). Widening int8 to float32 cost ten instructions per 16 numbers, and the
  ;; float32 products and sums eight more; int16 products summed in pairs take two widenings and
  ;; four dot products: an int8 step of 2 heads of 64 over 4,096 keys ~188 -> ~165 µs, of 8 heads
  ;; over 8,192 keys ~1.5 -> ~1.3 ms (old and new builds interleaved in one process).
  ;; When d is a multiple of 16 (and at most 512), four adjacent rows at a time, the query's four
  ;; vectors loaded once for the four; the rows left over, and every row for other d, take
  ;; $score_rows_int8.
  (func $scores_int8 (export "scores_int8") (param $qv i32) (param $k i32) (param $count i32) (param $d i32) (param $scale f64) (param $unit f64) (param $out i32)
    (local $r i32) (local $c i32) (local $row i32) (local $count4 i32) (local $lo i32) (local $x v128) (local $xl v128) (local $xh v128)
    (local $h0 v128) (local $h1 v128) (local $l0 v128) (local $l1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $hi v128) (local $low v128) (local $total v128)
    (if (i32.or (i32.and (local.get $d) (i32.const 15)) (i32.gt_u (local.get $d) (i32.const 512)))
      (then (call $score_rows_int8 (local.get $qv) (local.get $k) (local.get $count) (local.get $d) (local.get $scale) (local.get $unit) (local.get $out)) (return)))
    (local.set $lo (call $low_halves (local.get $qv) (local.get $d)))
    (local.set $count4 (i32.and (local.get $count) (i32.const -4)))
    (local.set $row (local.get $k))
    (block $groups_done
      (loop $groups
        (br_if $groups_done (i32.ge_u (local.get $r) (local.get $count4)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $b0 (v128.const i64x2 0 0))
        (local.set $b1 (v128.const i64x2 0 0))
        (local.set $b2 (v128.const i64x2 0 0))
        (local.set $b3 (v128.const i64x2 0 0))
        (local.set $c (i32.const 0))
        (block $sixteens_done
          (loop $sixteens
            (br_if $sixteens_done (i32.ge_u (local.get $c) (local.get $d)))
            (local.set $h0 (v128.load align=2 (i32.add (local.get $qv) (i32.shl (local.get $c) (i32.const 1)))))
            (local.set $h1 (v128.load offset=16 align=2 (i32.add (local.get $qv) (i32.shl (local.get $c) (i32.const 1)))))
            (local.set $l0 (v128.load align=2 (i32.add (local.get $lo) (i32.shl (local.get $c) (i32.const 1)))))
            (local.set $l1 (v128.load offset=16 align=2 (i32.add (local.get $lo) (i32.shl (local.get $c) (i32.const 1)))))
            (local.set $x (v128.load align=1 (i32.add (local.get $row) (local.get $c))))
            (local.set $xl (i16x8.extend_low_i8x16_s (local.get $x)))
            (local.set $xh (i16x8.extend_high_i8x16_s (local.get $x)))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $h0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $h1)))))
            (local.set $b0 (i32x4.add (local.get $b0) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $l0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $l1)))))
            (local.set $x (v128.load align=1 (i32.add (i32.add (local.get $row) (local.get $d)) (local.get $c))))
            (local.set $xl (i16x8.extend_low_i8x16_s (local.get $x)))
            (local.set $xh (i16x8.extend_high_i8x16_s (local.get $x)))
            (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $h0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $h1)))))
            (local.set $b1 (i32x4.add (local.get $b1) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $l0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $l1)))))
            (local.set $x (v128.load align=1 (i32.add (i32.add (local.get $row) (i32.shl (local.get $d) (i32.const 1))) (local.get $c))))
            (local.set $xl (i16x8.extend_low_i8x16_s (local.get $x)))
            (local.set $xh (i16x8.extend_high_i8x16_s (local.get $x)))
            (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $h0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $h1)))))
            (local.set $b2 (i32x4.add (local.get $b2) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $l0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $l1)))))
            (local.set $x (v128.load align=1 (i32.add (i32.add (local.get $row) (i32.mul (local.get $d) (i32.const 3))) (local.get $c))))
            (local.set $xl (i16x8.extend_low_i8x16_s (local.get $x)))
            (local.set $xh (i16x8.extend_high_i8x16_s (local.get $x)))
            (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $h0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $h1)))))
            (local.set $b3 (i32x4.add (local.get $b3) (i32x4.add (i32x4.dot_i16x8_s (local.get $xl) (local.get $l0)) (i32x4.dot_i16x8_s (local.get $xh) (local.get $l1)))))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $sixteens)))
        ;; Each row's four lanes summed (exactly, in int32: at most 512·127·2^15 < 2^31), four rows
        ;; at once by shuffles: [row 0, row 1, row 2, row 3] of the high halves and of the low.
        (local.set $hi (call $row_sums (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
        (local.set $low (call $row_sums (local.get $b0) (local.get $b1) (local.get $b2) (local.get $b3)))
        ;; hi·2^15 + lo in float64 (exact), then times the unit, then the scale
        (local.set $total (f64x2.add (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $hi)) (v128.const f64x2 32768 32768))
          (f64x2.convert_low_i32x4_s (local.get $low))))
        (v128.store align=8 (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3)))
          (f64x2.mul (f64x2.splat (local.get $scale)) (f64x2.mul (f64x2.splat (local.get $unit)) (local.get $total))))
        (local.set $total (f64x2.add
          (f64x2.mul (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $hi) (local.get $hi))) (v128.const f64x2 32768 32768))
          (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $low) (local.get $low)))))
        (v128.store offset=16 align=8 (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3)))
          (f64x2.mul (f64x2.splat (local.get $scale)) (f64x2.mul (f64x2.splat (local.get $unit)) (local.get $total))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $groups)))
    ;; A full block's run has no rows left: no call.
    (if (i32.lt_u (local.get $count4) (local.get $count))
      (then
        (call $score_rows_int8 (local.get $qv) (local.get $row) (i32.sub (local.get $count) (local.get $count4)) (local.get $d)
          (local.get $scale) (local.get $unit) (i32.add (local.get $out) (i32.shl (local.get $count4) (i32.const 3)))))))

  ;; [Σ lanes of a, Σ lanes of b, Σ lanes of c, Σ lanes of e] (int32): pairs of lanes (0, 1) and
  ;; (2, 3) of a and b, and of c and e, then each row's two pair sums.
  (func $row_sums (param $a v128) (param $b v128) (param $c v128) (param $e v128) (result v128)
    (local $t0 v128) (local $t1 v128)
    (local.set $t0 (i32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a) (local.get $b))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $t1 (i32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $c) (local.get $e))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $c) (local.get $e))))
    (i32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $t0) (local.get $t1))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $t0) (local.get $t1))))

  ;; $scores_int8 row by row, for any d: 8 channels per pass (one 8-byte load widened to int16),
  ;; each half's lanes added into float64 every 256 channels (a lane's sum stays below 2^31 for any
  ;; d), then the last d mod 8 channels one by one; the same exact sums, so the same scores.
  (func $score_rows_int8 (param $qv i32) (param $k i32) (param $count i32) (param $d i32) (param $scale f64) (param $unit f64) (param $out i32)
    (local $r i32) (local $c i32) (local $end i32) (local $d8 i32) (local $row i32) (local $lo i32) (local $x v128) (local $a v128) (local $b v128)
    (local $hiSum f64) (local $loSum f64) (local $key i32) (local $lanes v128)
    (local.set $lo (call $low_halves (local.get $qv) (local.get $d)))
    (local.set $d8 (i32.and (local.get $d) (i32.const -8)))
    (local.set $row (local.get $k))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $count)))
        (local.set $hiSum (f64.const 0))
        (local.set $loSum (f64.const 0))
        (local.set $c (i32.const 0))
        (block $stretches_done
          (loop $stretches
            (br_if $stretches_done (i32.ge_u (local.get $c) (local.get $d8)))
            (local.set $end (select (local.get $d8) (i32.add (local.get $c) (i32.const 256))
              (i32.lt_u (i32.sub (local.get $d8) (local.get $c)) (i32.const 256))))
            (local.set $a (v128.const i64x2 0 0))
            (local.set $b (v128.const i64x2 0 0))
            (block $eights_done
              (loop $eights
                (br_if $eights_done (i32.ge_u (local.get $c) (local.get $end)))
                (local.set $x (i16x8.extend_low_i8x16_s (v128.load64_zero align=1 (i32.add (local.get $row) (local.get $c)))))
                (local.set $a (i32x4.add (local.get $a)
                  (i32x4.dot_i16x8_s (local.get $x) (v128.load align=2 (i32.add (local.get $qv) (i32.shl (local.get $c) (i32.const 1)))))))
                (local.set $b (i32x4.add (local.get $b)
                  (i32x4.dot_i16x8_s (local.get $x) (v128.load align=2 (i32.add (local.get $lo) (i32.shl (local.get $c) (i32.const 1)))))))
                (local.set $c (i32.add (local.get $c) (i32.const 8)))
                (br $eights)))
            (local.set $lanes (f64x2.add (f64x2.convert_low_i32x4_s (local.get $a))
              (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a)))))
            (local.set $hiSum (f64.add (local.get $hiSum)
              (f64.add (f64x2.extract_lane 0 (local.get $lanes)) (f64x2.extract_lane 1 (local.get $lanes)))))
            (local.set $lanes (f64x2.add (f64x2.convert_low_i32x4_s (local.get $b))
              (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b)))))
            (local.set $loSum (f64.add (local.get $loSum)
              (f64.add (f64x2.extract_lane 0 (local.get $lanes)) (f64x2.extract_lane 1 (local.get $lanes)))))
            (br $stretches)))
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $d)))
            (local.set $key (i32.load8_s (i32.add (local.get $row) (local.get $c))))
            (local.set $hiSum (f64.add (local.get $hiSum) (f64.convert_i32_s
              (i32.mul (local.get $key) (i32.load16_s (i32.add (local.get $qv) (i32.shl (local.get $c) (i32.const 1))))))))
            (local.set $loSum (f64.add (local.get $loSum) (f64.convert_i32_s
              (i32.mul (local.get $key) (i32.load16_s (i32.add (local.get $lo) (i32.shl (local.get $c) (i32.const 1))))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3)))
          (f64.mul (local.get $scale) (f64.mul (local.get $unit)
            (f64.add (f64.mul (local.get $hiSum) (f64.const 32768)) (local.get $loSum)))))
        (local.set $row (i32.add (local.get $row) (local.get $d)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; d products of two float32 rows as integers, for the int8 kernels: a query times a block's
  ;; per-channel key scales ($scores_int8), or a block's weights times its rows' value scales
  ;; ($mix_int8). With m = max_c |q_c·s_c| (each product exact in float64) and unit = m / 2^29,
  ;; v_c = round(q_c·s_c·2^29 / m), |v_c| ≤ 2^29, stored as int16 halves v_c >> 15 (at $qv) and
  ;; v_c & 0x7fff ($low_halves on); an odd d's halves are followed by a zero of each kind, so
  ;; $mix_int8 reads every row's halves in pairs. Returns the unit (0 for products all 0, whose v
  ;; are 0). Four channels a pass (each the same operations as one by one, the last d mod 4 one by
  ;; one): it runs once per block and head, and channel by channel it took a tenth of an int8 step.
  (func $quantize_products (export "quantize_products") (param $qv i32) (param $q i32) (param $s i32) (param $d i32) (result f64)
    (local $c i32) (local $d4 i32) (local $max f64) (local $inv f64) (local $v i32) (local $qs v128) (local $p0 v128) (local $p1 v128)
    (local $m v128) (local $vs v128) (local $lo i32)
    (local.set $lo (call $low_halves (local.get $qv) (local.get $d)))
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (block $max4_done
      (loop $max4
        (br_if $max4_done (i32.ge_u (local.get $c) (local.get $d4)))
        (local.set $qs (v128.load align=4 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p1 (v128.load align=4 (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p0 (f64x2.mul (f64x2.promote_low_f32x4 (local.get $qs)) (f64x2.promote_low_f32x4 (local.get $p1))))
        (local.set $p1 (f64x2.mul
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $qs) (local.get $qs)))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p1) (local.get $p1)))))
        (local.set $m (f64x2.pmax (local.get $m) (f64x2.pmax (f64x2.abs (local.get $p0)) (f64x2.abs (local.get $p1)))))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $max4)))
    (local.set $max (f64.max (f64x2.extract_lane 0 (local.get $m)) (f64x2.extract_lane 1 (local.get $m))))
    (block $max_done
      (loop $max_loop
        (br_if $max_done (i32.ge_u (local.get $c) (local.get $d)))
        (local.set $max (f64.max (local.get $max) (f64.abs (f64.mul
          (f64.promote_f32 (f32.load (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 2)))))
          (f64.promote_f32 (f32.load (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2)))))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $max_loop)))
    (if (f64.gt (local.get $max) (f64.const 0)) (then (local.set $inv (f64.div (f64.const 0x1p29) (local.get $max)))))
    (local.set $c (i32.const 0))
    (block $quantize4_done
      (loop $quantize4
        (br_if $quantize4_done (i32.ge_u (local.get $c) (local.get $d4)))
        (local.set $qs (v128.load align=4 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p1 (v128.load align=4 (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p0 (f64x2.nearest (f64x2.mul (f64x2.splat (local.get $inv))
          (f64x2.mul (f64x2.promote_low_f32x4 (local.get $qs)) (f64x2.promote_low_f32x4 (local.get $p1))))))
        (local.set $p1 (f64x2.nearest (f64x2.mul (f64x2.splat (local.get $inv)) (f64x2.mul
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $qs) (local.get $qs)))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $p1) (local.get $p1)))))))
        ;; v for the four channels: [v0, v1] and [v2, v3], each |v| ≤ 2^29 (converted exactly)
        (local.set $vs (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (i32x4.trunc_sat_f64x2_s_zero (local.get $p0)) (i32x4.trunc_sat_f64x2_s_zero (local.get $p1))))
        ;; the four int16 halves of each kind: the low 8 bytes of a narrowed vector
        (v128.store64_lane align=2 0 (i32.add (local.get $qv) (i32.shl (local.get $c) (i32.const 1)))
          (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $vs) (i32.const 15)) (local.get $vs)))
        (v128.store64_lane align=2 0 (i32.add (local.get $lo) (i32.shl (local.get $c) (i32.const 1)))
          (i16x8.narrow_i32x4_s (v128.and (local.get $vs) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (local.get $vs)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $quantize4)))
    (block $done
      (loop $channels
        (br_if $done (i32.ge_u (local.get $c) (local.get $d)))
        (local.set $v (i32.trunc_f64_s (f64.nearest (f64.mul (local.get $inv) (f64.mul
          (f64.promote_f32 (f32.load (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 2)))))
          (f64.promote_f32 (f32.load (i32.add (local.get $s) (i32.shl (local.get $c) (i32.const 2))))))))))
        (i32.store16 (i32.add (local.get $qv) (i32.shl (local.get $c) (i32.const 1))) (i32.shr_s (local.get $v) (i32.const 15)))
        (i32.store16 (i32.add (local.get $lo) (i32.shl (local.get $c) (i32.const 1)))
          (i32.and (local.get $v) (i32.const 0x7fff)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $channels)))
    (if (i32.and (local.get $d) (i32.const 1))
      (then
        (i32.store16 (i32.add (local.get $qv) (i32.shl (local.get $d) (i32.const 1))) (i32.const 0))
        (i32.store16 (i32.add (local.get $lo) (i32.shl (local.get $d) (i32.const 1))) (i32.const 0))))
    (f64.div (local.get $max) (f64.const 0x1p29)))

  ;; Where $quantize_products' low halves begin: after the d high ones, rounded up to an even count.
  (func $low_halves (param $qv i32) (param $d i32) (result i32)
    (i32.add (local.get $qv) (i32.shl (i32.add (local.get $d) (i32.and (local.get $d) (i32.const 1))) (i32.const 1))))

  ;; The weighted sum over int8 value rows (quantized per row), in integers: out[c] += unit·Σ_r
  ;; W_r·v[r·d + c], W_r = round(w[r]·s[r] / unit) (the weight times the row's float32 scale, exact
  ;; in float64; unit = max_r w[r]·s[r] / 2^29, so 0 ≤ W_r ≤ 2^29), held as int16 halves W = hi·2^15
  ;; + lo by $quantize_products in `ws` (4 bytes a row of scratch, 8 more for an odd count). Rows go
  ;; two at a time: their 16 values of a chunk of columns interleaved and widened to int16 pairs,
  ;; i32x4.dot_i16x8_s against the pair of weights (hi_r, hi_r+1, read as one int32, then the lo
  ;; pair) gives four columns' w_r·v_r + w_r+1·v_r+1, exactly; the lanes are emptied into the
  ;; float64 output every 256 rows (a lane stays below 2^31), a column's sum hi·2^15 + lo exact in
  ;; float64 and times the unit rounded once. The last d mod 16 columns one by one, the same exact
  ;; sums in float64. Off the float64 Σ_r w[r]·s[r]·v[r·d + c] by at most unit·(1/2 + 2^-22)·Σ_r
  ;; |v[r·d + c]| and two roundings; widening int8 to float32 and multiplying there took twenty
  ;; instructions per row and 16 columns, this thirteen (with the integer scores: 2 heads of 64
  ;; over 4,096 keys ~165 -> ~150 µs a step, builds interleaved; ~139 once the weights were
  ;; quantized four a pass by $quantize_products instead of a loop of its own).
  (func $mix_int8 (export "mix_int8") (param $w i32) (param $v i32) (param $s i32) (param $count i32) (param $d i32) (param $out i32) (param $ws i32) (result f64)
    (local $r i32) (local $c i32) (local $p i32) (local $o i32) (local $end i32) (local $unit f64) (local $lo i32)
    (local $x0 v128) (local $x1 v128) (local $e v128) (local $hw v128) (local $lw v128)
    (local $h0 v128) (local $h1 v128) (local $h2 v128) (local $h3 v128) (local $l0 v128) (local $l1 v128) (local $l2 v128) (local $l3 v128)
    (local $hiSum f64) (local $loSum f64) (local $key i32)
    (local.set $unit (call $quantize_products (local.get $ws) (local.get $w) (local.get $s) (local.get $count)))
    (local.set $lo (call $low_halves (local.get $ws) (local.get $count)))
    (block $sixteens_done
      (loop $sixteens
        (br_if $sixteens_done (i32.gt_u (i32.add (local.get $c) (i32.const 16)) (local.get $d)))
        (local.set $r (i32.const 0))
        (block $stretches_done
          (loop $stretches
            (br_if $stretches_done (i32.ge_u (local.get $r) (local.get $count)))
            (local.set $end (select (local.get $count) (i32.add (local.get $r) (i32.const 256))
              (i32.lt_u (i32.sub (local.get $count) (local.get $r)) (i32.const 256))))
            (local.set $h0 (v128.const i64x2 0 0))
            (local.set $h1 (v128.const i64x2 0 0))
            (local.set $h2 (v128.const i64x2 0 0))
            (local.set $h3 (v128.const i64x2 0 0))
            (local.set $l0 (v128.const i64x2 0 0))
            (local.set $l1 (v128.const i64x2 0 0))
            (local.set $l2 (v128.const i64x2 0 0))
            (local.set $l3 (v128.const i64x2 0 0))
            (local.set $p (i32.add (i32.add (local.get $v) (i32.mul (local.get $r) (local.get $d))) (local.get $c)))
            (block $pairs_done
              (loop $pairs
                (br_if $pairs_done (i32.ge_u (local.get $r) (local.get $end)))
                ;; r is even here: rows r and r + 1's halves (a zero past an odd count's last)
                (local.set $hw (v128.load32_splat (i32.add (local.get $ws) (i32.shl (local.get $r) (i32.const 1)))))
                (local.set $lw (v128.load32_splat (i32.add (local.get $lo) (i32.shl (local.get $r) (i32.const 1)))))
                (local.set $x0 (v128.load align=1 (local.get $p)))
                ;; the next row, or (select) row r again past the last: its weight is 0
                (local.set $x1 (v128.load align=1 (i32.add (local.get $p)
                  (select (local.get $d) (i32.const 0) (i32.lt_u (i32.add (local.get $r) (i32.const 1)) (local.get $end))))))
                ;; columns 0-7 of the chunk as pairs (row r, row r + 1), widened: columns 0-3, then 4-7
                (local.set $e (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $x0) (local.get $x1)))
                (local.set $h0 (i32x4.add (local.get $h0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $e)) (local.get $hw))))
                (local.set $l0 (i32x4.add (local.get $l0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $e)) (local.get $lw))))
                (local.set $h1 (i32x4.add (local.get $h1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $e)) (local.get $hw))))
                (local.set $l1 (i32x4.add (local.get $l1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $e)) (local.get $lw))))
                (local.set $e (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $x0) (local.get $x1)))
                (local.set $h2 (i32x4.add (local.get $h2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $e)) (local.get $hw))))
                (local.set $l2 (i32x4.add (local.get $l2) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $e)) (local.get $lw))))
                (local.set $h3 (i32x4.add (local.get $h3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $e)) (local.get $hw))))
                (local.set $l3 (i32x4.add (local.get $l3) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $e)) (local.get $lw))))
                (local.set $p (i32.add (local.get $p) (i32.shl (local.get $d) (i32.const 1))))
                (local.set $r (i32.add (local.get $r) (i32.const 2)))
                (br $pairs)))
            ;; out[c + 4k + j] += unit·(h_k[j]·2^15 + l_k[j]), two columns a store
            (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
            (call $add_columns (local.get $o) (local.get $h0) (local.get $l0) (local.get $unit))
            (call $add_columns (i32.add (local.get $o) (i32.const 32)) (local.get $h1) (local.get $l1) (local.get $unit))
            (call $add_columns (i32.add (local.get $o) (i32.const 64)) (local.get $h2) (local.get $l2) (local.get $unit))
            (call $add_columns (i32.add (local.get $o) (i32.const 96)) (local.get $h3) (local.get $l3) (local.get $unit))
            (br $stretches)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $sixteens)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $d)))
        (local.set $hiSum (f64.const 0))
        (local.set $loSum (f64.const 0))
        (local.set $p (i32.add (local.get $v) (local.get $c)))
        (local.set $r (i32.const 0))
        (block $rows1_done
          (loop $rows1
            (br_if $rows1_done (i32.ge_u (local.get $r) (local.get $count)))
            (local.set $key (i32.load8_s (local.get $p)))
            (local.set $hiSum (f64.add (local.get $hiSum) (f64.convert_i32_s (i32.mul (local.get $key)
              (i32.load16_s (i32.add (local.get $ws) (i32.shl (local.get $r) (i32.const 1))))))))
            (local.set $loSum (f64.add (local.get $loSum) (f64.convert_i32_s (i32.mul (local.get $key)
              (i32.load16_s (i32.add (local.get $lo) (i32.shl (local.get $r) (i32.const 1))))))))
            (local.set $p (i32.add (local.get $p) (local.get $d)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows1)))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
        (f64.store (local.get $o) (f64.add (f64.load (local.get $o))
          (f64.mul (local.get $unit) (f64.add (f64.mul (local.get $hiSum) (f64.const 32768)) (local.get $loSum)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail)))
    (local.get $unit))

  ;; out[0 : 4] += unit·(h·2^15 + l), float64, for four columns' int32 sums h and l (exact below 2^53).
  (func $add_columns (param $o i32) (param $h v128) (param $l v128) (param $unit f64)
    (v128.store align=8 (local.get $o) (f64x2.add (v128.load align=8 (local.get $o)) (f64x2.mul (f64x2.splat (local.get $unit))
      (f64x2.add (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $h)) (v128.const f64x2 32768 32768)) (f64x2.convert_low_i32x4_s (local.get $l))))))
    (v128.store offset=16 align=8 (local.get $o) (f64x2.add (v128.load offset=16 align=8 (local.get $o)) (f64x2.mul (f64x2.splat (local.get $unit))
      (f64x2.add
        (f64x2.mul (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $h) (local.get $h))) (v128.const f64x2 32768 32768))
        (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $l) (local.get $l))))))))

  ;; One decode step as items: item i is query head floor(i / stretches) over stretch i mod
  ;; stretches of its keys (a stretch: consecutive runs of the run table), and its partial is the
  ;; i-th. They run in another order (next paragraph); [i0, i1) is a range of that order, the share
  ;; of the items one thread takes. For each of them: scores over its runs (with the ALiBi bias
  ;; when slopes are given), their exponentials against the stretch's own maximum, and the
  ;; weighted sum of values, left unnormalised in the item's partial:
  ;; [maximum, sum, headDim sums] in float64. The engine merges a head's partials by log-sum-exp
  ;; (src/kernels/wasm/step-job.ts). The stretches depend on the run table only, never on who runs
  ;; them, so a thread pool that gives each thread a share of the items computes exactly the
  ;; numbers one thread does. Returns the lowest head among the items whose sum was not finite (a
  ;; score overflowed), or -1.
  ;;
  ;; Items are independent, so their order changes no number. They run stretch by stretch, and
  ;; within one head by head (position s·heads + h); the items of a share over one stretch run as
  ;; one batch, cache block by cache block: each block's keys (and then values) for every head of
  ;; the batch, kv head after kv head. A block holds its kv heads' rows one after another, so the
  ;; step streams each block's keys as one stretch of memory (head by head over all the blocks, it
  ;; jumped a block's size every 64 rows: at 8 heads, headDim 128 and 32,768 keys ~19 ms against
  ;; ~13.5 now, the DRAM read ~21 GB/s instead of ~15), and the query heads of one kv head (a
  ;; group, in grouped-query attention) use its keys and values while they are in L1 (or L2, for
  ;; keys scored four blocks at a time, below), so the step reads the cache from memory once, not
  ;; once per query head (32 heads over 8 kv heads, headDim 128, 32,768 keys: ~80 ms against ~190
  ;; head by head, measured when items ran kv head by kv head). Every key's score and every
  ;; block's weighted sum is the one head by head would make. When the job says so (+68) they run
  ;; from the last down: the engine alternates, so a step starts where the step
  ;; before ended, whose keys and values are still in this core's L2 cache (a stream of 2,048
  ;; tokens of 8 heads ran ~7 % faster, the median of 14 interleaved pairs).
  ;;
  ;; The job, at byte offset $job (see src/kernels/wasm/step-job.ts, which writes it):
  ;;   +0 headDim  +4 groupSize  +8 runs  +12 count (keys per head)  +16 kvStride (bytes from one kv
  ;;   head's rows to the next in a block)  +20 queries (float32, one 16-byte-aligned row per head)
  ;;   +24 queryStride  +28 partials (float64, headDim + 2 per item)  +32 scores (float64, count
  ;;   per head)  +36 run table (per run, 32 bytes: keys (the run's first row), values (the
  ;;   block's), rows, first position, key scales, value scales, first slot in the block; i32 each;
  ;;   the scales 0 for float32 rows, else int8 rows: see $scores_int8 and $mix_int8)  +40 slopes
  ;;   (float64 per head, or 0 for none)  +44 query position  +48 scale (f64)  +56 stretches (per head)
  ;;   +60 stretch table (per stretch: first run, end run, first key; i32 each, 16 bytes)
  ;;   +64 exponentials (float32, count per head)  +68 backward (nonzero: items from i1 − 1 down to i0)
  ;;   +72 sink runs (the first runs, scored against the sink queries)  +76 sink queries (as queries)
  ;;   +80 the scores' soft cap (f64; 0 for none: $cap_scores)  +88 query heads
  (func $attend (export "attend") (param $job i32) (param $i0 i32) (param $i1 i32) (result i32)
    (local $lo i32) (local $hi i32) (local $b0 i32) (local $b1 i32) (local $e i32)
    (local $h i32) (local $h0 i32) (local $h1 i32) (local $d i32) (local $stretches i32) (local $s i32) (local $kv i32)
    (local $count i32) (local $runs i32) (local $run i32) (local $run0 i32) (local $end i32) (local $stretch i32)
    (local $keyStart i32) (local $key0 i32) (local $n i32) (local $rows i32) (local $at i32) (local $first i32) (local $j i32)
    (local $partial i32) (local $c i32) (local $slope f64) (local $position f64) (local $sum f64)
    (local $backward i32) (local $bad i32) (local $group i32) (local $heads i32) (local $width i32)
    (local $queries i32) (local $queryStride i32) (local $partials i32) (local $scoreBase i32) (local $exponentials i32)
    (local $slopes i32) (local $kvStride i32) (local $stretchTable i32) (local $scale f64)
    (local $sinkRunEnd i32) (local $sinkQueries i32) (local $cap f64)
    (local $chunk i32) (local $kv8 i32) (local $keyScaleAt i32) (local $valueScaleAt i32) (local $query i32) (local $scales i32) (local $weights i32) (local $scaled i32) (local $g i32)
    (local $span i32) (local $u i32) (local $biased i32)
    (local.set $bad (i32.const -1))
    (local.set $backward (i32.load offset=68 (local.get $job)))
    (local.set $d (i32.load (local.get $job)))
    (local.set $count (i32.load offset=12 (local.get $job)))
    (local.set $runs (i32.load offset=36 (local.get $job)))
    (local.set $stretches (i32.load offset=56 (local.get $job)))
    (local.set $group (i32.load offset=4 (local.get $job)))
    (local.set $heads (i32.load offset=88 (local.get $job)))
    (local.set $width (i32.shl (i32.add (local.get $d) (i32.const 2)) (i32.const 3)))
    (local.set $position (f64.convert_i32_s (i32.load offset=44 (local.get $job))))
    (local.set $queries (i32.load offset=20 (local.get $job)))
    (local.set $queryStride (i32.load offset=24 (local.get $job)))
    (local.set $partials (i32.load offset=28 (local.get $job)))
    (local.set $scoreBase (i32.load offset=32 (local.get $job)))
    (local.set $slopes (i32.load offset=40 (local.get $job)))
    (local.set $scale (f64.load offset=48 (local.get $job)))
    (local.set $kvStride (i32.load offset=16 (local.get $job)))
    ;; a float block's values lie in chunks of 16 columns, each the block's rows (kvStride / 4d) deep
    (local.set $chunk (i32.div_u (i32.shl (local.get $kvStride) (i32.const 4)) (local.get $d)))
    (local.set $stretchTable (i32.load offset=60 (local.get $job)))
    (local.set $exponentials (i32.load offset=64 (local.get $job)))
    (local.set $sinkRunEnd (i32.add (local.get $runs) (i32.shl (i32.load offset=72 (local.get $job)) (i32.const 5))))
    (local.set $sinkQueries (i32.load offset=76 (local.get $job)))
    (local.set $cap (f64.load offset=80 (local.get $job)))
    (local.set $lo (local.get $i0))
    (local.set $hi (local.get $i1))
    (block $batches_done
      (loop $batches
        (br_if $batches_done (i32.ge_u (local.get $lo) (local.get $hi)))
        ;; The batch: the run-order positions of [lo, hi) that share the next (or, backward, the
        ;; last) position's stretch s, i.e. query heads h0 … h1 − 1 over it (position s·heads + h).
        (local.set $e (select (i32.sub (local.get $hi) (i32.const 1)) (local.get $lo) (local.get $backward)))
        (local.set $s (i32.div_u (local.get $e) (local.get $heads)))
        (local.set $b0 (i32.mul (local.get $s) (local.get $heads)))
        (local.set $b1 (i32.add (local.get $b0) (local.get $heads)))
        (if (i32.lt_u (local.get $b0) (local.get $lo)) (then (local.set $b0 (local.get $lo))))
        (if (i32.gt_u (local.get $b1) (local.get $hi)) (then (local.set $b1 (local.get $hi))))
        (if (local.get $backward)
          (then (local.set $hi (local.get $b0)))
          (else (local.set $lo (local.get $b1))))
        (local.set $h0 (i32.sub (local.get $b0) (i32.mul (local.get $s) (local.get $heads))))
        (local.set $h1 (i32.add (local.get $h0) (i32.sub (local.get $b1) (local.get $b0))))
        (local.set $stretch (i32.add (local.get $stretchTable) (i32.shl (local.get $s) (i32.const 4))))
        (local.set $run0 (i32.add (local.get $runs) (i32.shl (i32.load (local.get $stretch)) (i32.const 5))))
        (local.set $end (i32.add (local.get $runs) (i32.shl (i32.load offset=4 (local.get $stretch)) (i32.const 5))))
        (local.set $keyStart (i32.load offset=8 (local.get $stretch)))
        ;; scores, run by run, each run for every head of the batch while its keys are in L1; four
        ;; float runs of one length (a multiple of 4) at once where they follow one another, each
        ;; head's rows of them as $score_streams' four streams, a whole block each rather than a
        ;; quarter: at H = 8, D = 64 and 64-row blocks a step over 8,192 keys ran ~1.3× faster and
        ;; a 2,048-token stream ~5 % (old and new builds in alternating processes; one head 0–10 %).
        ;; Each row's score is computed as $scores computes it: outputs stayed bit for bit.
        (local.set $n (i32.const 0))
        (local.set $run (local.get $run0))
        (block $score_runs_done
          (loop $score_runs
            (br_if $score_runs_done (i32.ge_u (local.get $run) (local.get $end)))
            (local.set $rows (i32.load offset=8 (local.get $run)))
            (local.set $span (i32.const 1))
            (if (i32.and
                  (i32.and
                    (i32.eqz (i32.and (i32.or (local.get $d) (local.get $rows)) (i32.const 3)))
                    (i32.le_u (i32.add (local.get $run) (i32.const 128)) (local.get $end)))
                  (i32.eq (i32.lt_u (local.get $run) (local.get $sinkRunEnd))
                    (i32.lt_u (i32.add (local.get $run) (i32.const 96)) (local.get $sinkRunEnd))))
              (then
                (if (i32.eqz (i32.or
                      (i32.or (i32.or (i32.load offset=16 (local.get $run)) (i32.load offset=48 (local.get $run)))
                        (i32.or (i32.load offset=80 (local.get $run)) (i32.load offset=112 (local.get $run))))
                      (i32.or (i32.or
                          (i32.xor (local.get $rows) (i32.load offset=40 (local.get $run)))
                          (i32.xor (local.get $rows) (i32.load offset=72 (local.get $run))))
                        (i32.xor (local.get $rows) (i32.load offset=104 (local.get $run))))))
                  (then (local.set $span (i32.const 4))))))
            (local.set $h (local.get $h0))
            (block $score_heads_done
              (loop $score_heads
                (br_if $score_heads_done (i32.ge_u (local.get $h) (local.get $h1)))
                ;; kv head g's rows in the block; int8 ones are a quarter as many bytes apart, its key
                ;; scales d floats apart, its value scales one float per row of the block (kvStride / d bytes)
                (local.set $g (i32.div_u (local.get $h) (local.get $group)))
                (local.set $kv (i32.mul (local.get $g) (local.get $kvStride)))
                (local.set $kv8 (i32.shr_u (local.get $kv) (i32.const 2)))
                (local.set $keyScaleAt (i32.shl (i32.mul (local.get $g) (local.get $d)) (i32.const 2)))
                (local.set $at (i32.add (local.get $scoreBase)
                  (i32.shl (i32.add (i32.add (i32.mul (local.get $h) (local.get $count)) (local.get $keyStart)) (local.get $n)) (i32.const 3))))
                ;; RoPE 'cache' positions: the sinks see the query at its rank, rotated apart
                (local.set $query (i32.add
                  (select (local.get $sinkQueries) (local.get $queries) (i32.lt_u (local.get $run) (local.get $sinkRunEnd)))
                  (i32.mul (local.get $h) (local.get $queryStride))))
                (local.set $scales (i32.load offset=16 (local.get $run)))
                (if (i32.eq (local.get $span) (i32.const 4))
                  (then
                    (call $score_streams (local.get $query)
                      (i32.add (i32.load (local.get $run)) (local.get $kv))
                      (i32.add (i32.load offset=32 (local.get $run)) (local.get $kv))
                      (i32.add (i32.load offset=64 (local.get $run)) (local.get $kv))
                      (i32.add (i32.load offset=96 (local.get $run)) (local.get $kv))
                      (local.get $rows) (local.get $d) (local.get $scale) (local.get $at) (i32.shl (local.get $rows) (i32.const 3))))
                  (else
                    (if (local.get $scales)
                      (then
                        ;; The query times the block's key scales goes to this item's partial, whose sums
                        ;; are not in use until the exponentials (one region per item: threads never share it).
                        (local.set $scaled (i32.add (i32.add (local.get $partials)
                          (i32.mul (i32.add (i32.mul (local.get $h) (local.get $stretches)) (local.get $s)) (local.get $width))) (i32.const 16)))
                        (call $scores_int8 (local.get $scaled) (i32.add (i32.load (local.get $run)) (local.get $kv8))
                          (local.get $rows) (local.get $d) (local.get $scale)
                          (call $quantize_products (local.get $scaled) (local.get $query) (i32.add (local.get $scales) (local.get $keyScaleAt)) (local.get $d))
                          (local.get $at)))
                      (else
                        (call $scores (local.get $query) (i32.add (i32.load (local.get $run)) (local.get $kv)) (local.get $rows) (local.get $d)
                          (local.get $scale) (local.get $at))))))
                ;; ALiBi: s − m·|i − p|, as the TypeScript path subtracts it, run by run (each its own positions)
                (local.set $slope (f64.const 0))
                (if (local.get $slopes)
                  (then (local.set $slope (f64.load (i32.add (local.get $slopes) (i32.shl (local.get $h) (i32.const 3)))))))
                (if (f64.ne (local.get $slope) (f64.const 0))
                  (then
                    (local.set $u (i32.const 0))
                    (block $bias_runs_done
                      (loop $bias_runs
                        (br_if $bias_runs_done (i32.ge_u (local.get $u) (local.get $span)))
                        (local.set $first (i32.load offset=12 (i32.add (local.get $run) (i32.shl (local.get $u) (i32.const 5)))))
                        (local.set $biased (i32.add (local.get $at) (i32.shl (i32.mul (local.get $u) (local.get $rows)) (i32.const 3))))
                        (local.set $j (i32.const 0))
                        (block $bias_done
                          (loop $bias
                            (br_if $bias_done (i32.ge_u (local.get $j) (local.get $rows)))
                            (f64.store (i32.add (local.get $biased) (i32.shl (local.get $j) (i32.const 3)))
                              (f64.sub (f64.load (i32.add (local.get $biased) (i32.shl (local.get $j) (i32.const 3))))
                                (f64.mul (local.get $slope)
                                  (f64.abs (f64.sub (local.get $position) (f64.convert_i32_s (i32.add (local.get $first) (local.get $j))))))))
                            (local.set $j (i32.add (local.get $j) (i32.const 1)))
                            (br $bias)))
                        (local.set $u (i32.add (local.get $u) (i32.const 1)))
                        (br $bias_runs)))))
                ;; the soft cap on the whole score, bias included, as the TypeScript path caps it
                (if (f64.ne (local.get $cap) (f64.const 0))
                  (then (call $cap_scores (local.get $at) (i32.mul (local.get $rows) (local.get $span)) (local.get $cap))))
                (local.set $h (i32.add (local.get $h) (i32.const 1)))
                (br $score_heads)))
            (local.set $n (i32.add (local.get $n) (i32.mul (local.get $rows) (local.get $span))))
            (local.set $run (i32.add (local.get $run) (i32.shl (local.get $span) (i32.const 5))))
            (br $score_runs)))
        ;; each head's exponentials, maximum and sum into its partial, whose weighted sum is zeroed
        (local.set $h (local.get $h0))
        (block $exp_heads_done
          (loop $exp_heads
            (br_if $exp_heads_done (i32.ge_u (local.get $h) (local.get $h1)))
            (local.set $key0 (i32.add (i32.mul (local.get $h) (local.get $count)) (local.get $keyStart)))
            (local.set $partial (i32.add (local.get $partials)
              (i32.mul (i32.add (i32.mul (local.get $h) (local.get $stretches)) (local.get $s)) (local.get $width))))
            (local.set $sum (call $exponentiate
              (i32.add (local.get $scoreBase) (i32.shl (local.get $key0) (i32.const 3)))
              (local.get $n)
              (i32.add (local.get $exponentials) (i32.shl (local.get $key0) (i32.const 2)))
              (local.get $partial)))
            ;; finite ⇔ sum − sum = 0 (NaN and ±Infinity give NaN); as unsigned, -1 is above every head
            (if (f64.ne (f64.sub (local.get $sum) (local.get $sum)) (f64.const 0))
              (then (if (i32.lt_u (local.get $h) (local.get $bad)) (then (local.set $bad (local.get $h))))))
            (local.set $c (i32.const 0))
            (block $zero_done
              (loop $zero
                (br_if $zero_done (i32.ge_u (local.get $c) (local.get $d)))
                (f64.store offset=16 (i32.add (local.get $partial) (i32.shl (local.get $c) (i32.const 3))) (f64.const 0))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $zero)))
            (local.set $h (i32.add (local.get $h) (i32.const 1)))
            (br $exp_heads)))
        ;; The weighted values, run by run, each run for every head of the batch while its values are
        ;; in L1. Once a score overflowed the engine runs the step in float64: no more sums are needed.
        (if (i32.ne (local.get $bad) (i32.const -1)) (then (br $batches)))
        (local.set $n (i32.const 0))
        (local.set $run (local.get $run0))
        (block $mix_runs_done
          (loop $mix_runs
            (br_if $mix_runs_done (i32.ge_u (local.get $run) (local.get $end)))
            (local.set $rows (i32.load offset=8 (local.get $run)))
            (local.set $h (local.get $h0))
            (block $mix_heads_done
              (loop $mix_heads
                (br_if $mix_heads_done (i32.ge_u (local.get $h) (local.get $h1)))
                (local.set $kv (i32.mul (i32.div_u (local.get $h) (local.get $group)) (local.get $kvStride)))
                (local.set $kv8 (i32.shr_u (local.get $kv) (i32.const 2)))
                (local.set $valueScaleAt (i32.div_u (local.get $kv) (local.get $d)))
                (local.set $weights (i32.add (local.get $exponentials)
                  (i32.shl (i32.add (i32.add (i32.mul (local.get $h) (local.get $count)) (local.get $keyStart)) (local.get $n)) (i32.const 2))))
                (local.set $partial (i32.add (i32.add (local.get $partials)
                  (i32.mul (i32.add (i32.mul (local.get $h) (local.get $stretches)) (local.get $s)) (local.get $width))) (i32.const 16)))
                (local.set $scales (i32.load offset=20 (local.get $run)))
                (if (local.get $scales)
                  (then
                    ;; the rows' weights as integers go where the run's scores were: the exponentials
                    ;; replaced them, and nothing reads them again
                    (drop (call $mix_int8 (local.get $weights)
                      (i32.add (i32.add (i32.load offset=4 (local.get $run)) (local.get $kv8)) (i32.mul (i32.load offset=24 (local.get $run)) (local.get $d)))
                      (i32.add (local.get $scales) (local.get $valueScaleAt)) (local.get $rows) (local.get $d) (local.get $partial)
                      (i32.add (local.get $scoreBase)
                        (i32.shl (i32.add (i32.add (i32.mul (local.get $h) (local.get $count)) (local.get $keyStart)) (local.get $n)) (i32.const 3))))))
                  (else
                    (call $mix (local.get $weights) (i32.add (i32.load offset=4 (local.get $run)) (local.get $kv)) (i32.load offset=24 (local.get $run))
                      (local.get $rows) (local.get $d) (local.get $chunk) (local.get $partial))))
                (local.set $h (i32.add (local.get $h) (i32.const 1)))
                (br $mix_heads)))
            (local.set $n (i32.add (local.get $n) (local.get $rows)))
            (local.set $run (i32.add (local.get $run) (i32.const 32)))
            (br $mix_runs)))
        (br $batches)))
    (local.get $bad))

  ;; Zeroes `bytes` bytes from `at`: a region the arena hands out again. In JavaScript,
  ;; TypedArray.fill over a shared memory (a thread pool's) writes element by element: 256 KiB took
  ;; ~70 us as bytes, ~18 as doubles, where memory.fill takes ~3, as fill does over a memory not shared.
  (func (export "zero") (param $at i32) (param $bytes i32)
    (memory.fill (local.get $at) (i32.const 0) (local.get $bytes)))

  ;; Stores one token's float32 rows into a block: kv head g's key row k[g·d …] as slot `slot` of
  ;; its keys (row g·blockSize + slot), its value row v[g·d …] as slot `slot` of its values' column
  ;; chunks (src/cache/value-layout.ts: the chunk from column c0, w wide, holds slot s at
  ;; c0·blockSize + s·w). In TypeScript that was a view and a copy per key row and a loop per value
  ;; row, ~3 us of a small step at 8 kv heads.
  (func (export "store_rows") (param $k i32) (param $v i32) (param $keys i32) (param $values i32)
    (param $kvHeads i32) (param $d i32) (param $blockSize i32) (param $slot i32)
    (local $g i32) (local $c0 i32) (local $width i32) (local $region i32) (local $row i32)
    (block $heads_done
      (loop $heads
        (br_if $heads_done (i32.ge_u (local.get $g) (local.get $kvHeads)))
        (local.set $row (i32.shl (i32.mul (local.get $g) (local.get $d)) (i32.const 2)))
        (call $copy_floats (i32.add (local.get $k) (local.get $row))
          (i32.add (local.get $keys) (i32.shl (i32.mul (i32.add (i32.mul (local.get $g) (local.get $blockSize)) (local.get $slot)) (local.get $d)) (i32.const 2)))
          (local.get $d))
        (local.set $region (i32.add (local.get $values) (i32.mul (local.get $row) (local.get $blockSize))))
        (local.set $c0 (i32.const 0))
        (block $chunks_done
          (loop $chunks
            (br_if $chunks_done (i32.ge_u (local.get $c0) (local.get $d)))
            (local.set $width (select (i32.const 16) (i32.sub (local.get $d) (local.get $c0))
              (i32.le_u (i32.add (local.get $c0) (i32.const 16)) (local.get $d))))
            (call $copy_floats (i32.add (i32.add (local.get $v) (local.get $row)) (i32.shl (local.get $c0) (i32.const 2)))
              (i32.add (local.get $region) (i32.shl (i32.add (i32.mul (local.get $c0) (local.get $blockSize)) (i32.mul (local.get $slot) (local.get $width))) (i32.const 2)))
              (local.get $width))
            (local.set $c0 (i32.add (local.get $c0) (i32.const 16)))
            (br $chunks)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $heads))))

  ;; n float32s from src to dst (regions that do not overlap), four at a time, then one by one.
  (func $copy_floats (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $fours_done
      (loop $fours
        (br_if $fours_done (i32.lt_u (i32.sub (local.get $end) (local.get $src)) (i32.const 16)))
        (v128.store align=4 (local.get $dst) (v128.load align=4 (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $fours)))
    (block $ones_done
      (loop $ones
        (br_if $ones_done (i32.eq (local.get $src) (local.get $end)))
        (f32.store (local.get $dst) (f32.load (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (br $ones))))

  ;; 1 when the n numbers at p (float32, or float64 when $wide is set) are all finite, else 0:
  ;; v − v is 0 for a finite v and NaN for ±Infinity and NaN, and a NaN stays in a running sum. The
  ;; engine checks every vector it takes in and every projection it makes; the TypeScript loop cost
  ;; ~2 ns a number, a tenth of a small step for three vectors.
  (func (export "finite") (param $p i32) (param $n i32) (param $wide i32) (result i32)
    (local $end i32) (local $acc v128) (local $s f64)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (select (i32.const 3) (i32.const 2) (local.get $wide)))))
    (if (local.get $wide)
      (then
        (block $wide_done
          (loop $wide_loop
            (br_if $wide_done (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16)))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.sub (v128.load align=8 (local.get $p)) (v128.load align=8 (local.get $p)))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $wide_loop)))
        (if (i32.ne (local.get $p) (local.get $end))
          (then (local.set $s (f64.sub (f64.load (local.get $p)) (f64.load (local.get $p))))))
        (return (i32.and (i64x2.all_true (f64x2.eq (local.get $acc) (v128.const f64x2 0 0))) (f64.eq (local.get $s) (f64.const 0))))))
    (block $narrow_done
      (loop $narrow_loop
        (br_if $narrow_done (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 16)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.sub (v128.load align=4 (local.get $p)) (v128.load align=4 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $narrow_loop)))
    (block $rest_done
      (loop $rest
        (br_if $rest_done (i32.eq (local.get $p) (local.get $end)))
        (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.sub (f32.load (local.get $p)) (f32.load (local.get $p))))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $rest)))
    (i32.and (i32x4.all_true (f32x4.eq (local.get $acc) (v128.const f32x4 0 0 0 0))) (f64.eq (local.get $s) (f64.const 0))))

  ;; A step's head outputs from its items' partials (see $attend): head h's output is
  ;; Σ_s factor[h·stretches + s]·acc_{h,s}, its stretches in order (the first product, then each
  ;; next one added), float64 (the factors, e^(m_s − M) / Σ_s e^(m_s − M)·sum_s, come from the engine:
  ;; src/kernels/wasm/step-job.ts, which needs a float64 exp). Stored at $out as float64, or rounded
  ;; to float32 when $narrow is set (an engine without an output projection hands them out as they
  ;; are). Two channels per f64x2 pass, each the same operations as one by one; an odd last channel
  ;; alone. The loop in TypeScript cost ~2 ns a number here, a tenth of a small step.
  ;; Returns 1 when every output stored is finite, else 0 (a float32 one may overflow in the
  ;; rounding): x − x is 0 for a finite x and NaN otherwise, and the differences' sum stays 0
  ;; exactly while they all are. The engine checked its 2,048 float32 outputs (32 heads of 64) in a
  ;; TypeScript loop after this, ~1.7 µs of a ~60 µs step.
  (func $merge (export "merge") (param $job i32) (param $heads i32) (param $factors i32) (param $out i32) (param $narrow i32) (result i32)
    (local $d i32) (local $stretches i32) (local $width i32) (local $h i32) (local $s i32) (local $c i32) (local $d2 i32)
    (local $head i32) (local $at i32) (local $factor i32) (local $o i32) (local $sum v128) (local $one f64)
    (local $narrowed v128) (local $check v128) (local $check32 v128) (local $single f32)
    (local.set $d (i32.load (local.get $job)))
    (local.set $stretches (i32.load offset=56 (local.get $job)))
    (local.set $width (i32.shl (i32.add (local.get $d) (i32.const 2)) (i32.const 3)))
    (local.set $d2 (i32.and (local.get $d) (i32.const -2)))
    (block $heads_done
      (loop $heads_loop
        (br_if $heads_done (i32.ge_u (local.get $h) (local.get $heads)))
        ;; head h's first partial's sums, and its first factor
        (local.set $head (i32.add (i32.add (i32.load offset=28 (local.get $job))
          (i32.mul (i32.mul (local.get $h) (local.get $stretches)) (local.get $width))) (i32.const 16)))
        (local.set $factor (i32.add (local.get $factors) (i32.shl (i32.mul (local.get $h) (local.get $stretches)) (i32.const 3))))
        (local.set $c (i32.const 0))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.ge_u (local.get $c) (local.get $d2)))
            (local.set $at (i32.add (local.get $head) (i32.shl (local.get $c) (i32.const 3))))
            (local.set $sum (f64x2.mul (v128.load64_splat (local.get $factor)) (v128.load align=8 (local.get $at))))
            (local.set $s (i32.const 1))
            (block $stretches_done
              (loop $stretches_loop
                (br_if $stretches_done (i32.ge_u (local.get $s) (local.get $stretches)))
                (local.set $at (i32.add (local.get $at) (local.get $width)))
                (local.set $sum (f64x2.add (local.get $sum)
                  (f64x2.mul (v128.load64_splat (i32.add (local.get $factor) (i32.shl (local.get $s) (i32.const 3)))) (v128.load align=8 (local.get $at)))))
                (local.set $s (i32.add (local.get $s) (i32.const 1)))
                (br $stretches_loop)))
            (local.set $o (i32.add (i32.mul (local.get $h) (local.get $d)) (local.get $c)))
            (if (local.get $narrow)
              (then
                (local.set $narrowed (f32x4.demote_f64x2_zero (local.get $sum)))
                (local.set $check32 (f32x4.add (local.get $check32) (f32x4.sub (local.get $narrowed) (local.get $narrowed))))
                (i64.store align=4 (i32.add (local.get $out) (i32.shl (local.get $o) (i32.const 2)))
                  (i64x2.extract_lane 0 (local.get $narrowed))))
              (else
                (local.set $check (f64x2.add (local.get $check) (f64x2.sub (local.get $sum) (local.get $sum))))
                (v128.store align=8 (i32.add (local.get $out) (i32.shl (local.get $o) (i32.const 3))) (local.get $sum))))
            (local.set $c (i32.add (local.get $c) (i32.const 2)))
            (br $pairs)))
        (if (i32.lt_u (local.get $c) (local.get $d))
          (then
            (local.set $at (i32.add (local.get $head) (i32.shl (local.get $c) (i32.const 3))))
            (local.set $one (f64.mul (f64.load (local.get $factor)) (f64.load (local.get $at))))
            (local.set $s (i32.const 1))
            (block $last_done
              (loop $last
                (br_if $last_done (i32.ge_u (local.get $s) (local.get $stretches)))
                (local.set $at (i32.add (local.get $at) (local.get $width)))
                (local.set $one (f64.add (local.get $one)
                  (f64.mul (f64.load (i32.add (local.get $factor) (i32.shl (local.get $s) (i32.const 3)))) (f64.load (local.get $at)))))
                (local.set $s (i32.add (local.get $s) (i32.const 1)))
                (br $last)))
            (local.set $o (i32.add (i32.mul (local.get $h) (local.get $d)) (local.get $c)))
            (if (local.get $narrow)
              (then
                (local.set $single (f32.demote_f64 (local.get $one)))
                (local.set $check32 (f32x4.add (local.get $check32) (f32x4.splat (f32.sub (local.get $single) (local.get $single)))))
                (f32.store (i32.add (local.get $out) (i32.shl (local.get $o) (i32.const 2))) (local.get $single)))
              (else
                (local.set $check (f64x2.add (local.get $check) (f64x2.splat (f64.sub (local.get $one) (local.get $one)))))
                (f64.store (i32.add (local.get $out) (i32.shl (local.get $o) (i32.const 3))) (local.get $one))))))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $heads_loop)))
    (i32.and (i64x2.all_true (f64x2.eq (local.get $check) (v128.const f64x2 0 0)))
      (i32x4.all_true (f32x4.eq (local.get $check32) (v128.const f32x4 0 0 0 0)))))

  ;; out[t·rows + r] = Σ_c w[r·cols + c]·x_t[c] for n tokens: float32 rows x against the float32
  ;; matrix w (rows × cols, row-major, the torch.nn.Linear layout), in float32 arithmetic. Every
  ;; output has one order of operations, whichever pass computes it: products and sums in four
  ;; lanes by column mod 4 (the last, partial chunk of four padded with zeros), then
  ;; (l0 + l1) + (l2 + l3). So a token's numbers do not depend on how many tokens share the call,
  ;; nor on how a thread pool splits it (test/wasm-kernels.test.ts spells the order out). Four
  ;; tokens share each pass over two rows of w: for a prompt the projections become matrix-matrix
  ;; work, eight sums per pass from six loads. Four tokens by two rows measured fastest of 1-4 by
  ;; 1-4 at dim 512 (more sums than that outgrow the sixteen vector registers), and of 5 or 6 by 2.
  ;; The two rows are half the matrix apart (r and r + ⌈rows/2⌉), not adjacent: two streams far
  ;; apart keep more reads of w in flight when it comes from memory (a few tokens against a large
  ;; matrix, as pushEach's beams: 4 tokens, 2,048 × 2,048, ~9 → ~11.6 GMAC/s; 512 columns ~5 →
  ;; ~16.7), and cost nothing from the caches (a 512-token prompt at dim 512 the same).
  ;;
  ;; X's tokens come in groups of four, each group 4·cols floats, packed: the first four columns of
  ;; its four tokens, then the next four, … (a token's chunk of four after the previous token's),
  ;; then the last cols mod 4 columns of each token in turn (src/kernels/wasm/project-in-arena.ts
  ;; writes it). A pass then reads the four tokens' chunks as one 64-byte stretch from one pointer:
  ;; four pointer updates fewer a pass than one pointer a token, ~1.12x the multiply-adds a second
  ;; (dim 512, 512 tokens; the loop is bound by issuing its instructions, not by its loads), and the
  ;; loop ends on that pointer rather than on a column count it would also step: ~1.04x more
  ;; (18.3-18.6 -> 19.0-19.4 GMAC/s, both builds interleaved in one process; gcc -O2's code for the
  ;; same loop, 21.6). The n mod 4 tokens left over, row after row after the groups (a single
  ;; push's one token), take $project_token, bound by reading w.
  ;; [half twins begin] scripts/half-twins.ts copies from here to [half twins end] as project_bf16
  ;; and $project_token_bf16, and as project_f16 and $project_token_f16: the same loops, in the
  ;; same order, over a matrix of bfloat16 weights (the top halves of float32s) or of IEEE binary16
  ;; ones, each chunk of four widened exactly as it is loaded (how: there). A 16-bit matrix is half
  ;; the bytes to read, which a single token's pass waits on.
  (func (export "project") (param $out i32) (param $x i32) (param $w i32) (param $n i32) (param $rows i32) (param $cols i32)
    (local $t i32) (local $r i32) (local $cols4 i32) (local $rest i32) (local $stride i32) (local $wstride i32) (local $outStride i32) (local $last i32)
    (local $w0 i32) (local $w1 i32) (local $xp i32) (local $xend i32) (local $group i32) (local $o i32) (local $half i32) (local $far i32) (local $paired i32)
    (local $rb i32) (local $rend i32) (local $block i32)
    (local $v0 v128) (local $v1 v128) (local $xv v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128) (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rest (i32.sub (local.get $cols) (local.get $cols4)))
    (local.set $stride (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $wstride (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $outStride (i32.shl (local.get $rows) (i32.const 2)))
    (local.set $last (i32.add (local.get $w) (i32.mul (i32.sub (local.get $rows) (i32.const 1)) (local.get $wstride))))
    (local.set $half (i32.shr_u (i32.add (local.get $rows) (i32.const 1)) (i32.const 1)))
    (local.set $far (i32.mul (local.get $half) (local.get $wstride)))
    ;; The rows go in blocks of 128 KiB of w (pairs r, r + half), every group of four tokens passing
    ;; over one block before the next: a block stays in the core's L2 while the groups reuse it, where
    ;; each group streamed the whole matrix before (from memory once it outgrew the L3). Same passes,
    ;; same numbers. A matrix from memory ~1.6-1.9x (5,632 × 2,048: 11 -> 21 GMAC/s at 512 tokens),
    ;; 2,048 × 2,048 (16 MB, L3) ~1.2x, one of 1 MB ~1.04x; its bfloat16 twin ~1.03-1.2x. Blocks of
    ;; 128, 256 and 512 KiB measured alike here; the smallest also fits cores with 256 KiB of L2.
    (local.set $block (i32.div_u (i32.const 131072) (i32.shl (local.get $wstride) (i32.const 1))))
    (local.set $block (select (local.get $block) (i32.const 1) (local.get $block)))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.or (i32.lt_u (local.get $n) (i32.const 4)) (i32.ge_u (local.get $rb) (local.get $half))))
        (local.set $rend (i32.add (local.get $rb) (local.get $block)))
        (local.set $rend (select (local.get $rend) (local.get $half) (i32.lt_u (local.get $rend) (local.get $half))))
        (local.set $t (i32.const 0))
        (block $tokens_done
          (loop $tokens
            (br_if $tokens_done (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $n)))
            (local.set $group (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $stride))))
            (local.set $r (local.get $rb))
            (block $rows_done
              (loop $rows
                (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rend)))
                (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $wstride))))
                (local.set $paired (i32.lt_u (i32.add (local.get $r) (local.get $half)) (local.get $rows)))
                ;; Past the last row the pointer stays on it; the repeat is not stored.
                (local.set $w1 (select (i32.add (local.get $w0) (local.get $far)) (local.get $last) (local.get $paired)))
                (local.set $xp (local.get $group))
                (local.set $a00 (v128.const i64x2 0 0))
                (local.set $a01 (v128.const i64x2 0 0))
                (local.set $a10 (v128.const i64x2 0 0))
                (local.set $a11 (v128.const i64x2 0 0))
                (local.set $a20 (v128.const i64x2 0 0))
                (local.set $a21 (v128.const i64x2 0 0))
                (local.set $a30 (v128.const i64x2 0 0))
                (local.set $a31 (v128.const i64x2 0 0))
                ;; the group's full chunks end at 16·cols4 bytes: four tokens' four columns per 64
                (local.set $xend (i32.add (local.get $group) (i32.shl (local.get $cols4) (i32.const 4))))
                (block $body_done
                  (loop $body
                    (br_if $body_done (i32.ge_u (local.get $xp) (local.get $xend)))
                    (local.set $v0 (v128.load align=4 (local.get $w0)))
                    (local.set $v1 (v128.load align=4 (local.get $w1)))
                    (local.set $xv (v128.load align=4 (local.get $xp)))
                    (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $xv (v128.load offset=16 align=4 (local.get $xp)))
                    (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $xv (v128.load offset=32 align=4 (local.get $xp)))
                    (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $xv (v128.load offset=48 align=4 (local.get $xp)))
                    (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $w0 (i32.add (local.get $w0) (i32.const 16)))
                    (local.set $w1 (i32.add (local.get $w1) (i32.const 16)))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
                    (br $body)))
                (if (local.get $rest)
                  (then
                    (local.set $v0 (call $tail4 (local.get $w0) (local.get $rest)))
                    (local.set $v1 (call $tail4 (local.get $w1) (local.get $rest)))
                    (local.set $xv (call $tail4 (local.get $xp) (local.get $rest)))
                    (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $xv (call $tail4 (i32.add (local.get $xp) (i32.shl (local.get $rest) (i32.const 2))) (local.get $rest)))
                    (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $xv (call $tail4 (i32.add (local.get $xp) (i32.shl (local.get $rest) (i32.const 3))) (local.get $rest)))
                    (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $v1) (local.get $xv))))
                    (local.set $xv (call $tail4 (i32.add (local.get $xp) (i32.mul (local.get $rest) (i32.const 12))) (local.get $rest)))
                    (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $v0) (local.get $xv))))
                    (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $v1) (local.get $xv))))
                  ))
                (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $t) (local.get $rows)) (local.get $r)) (i32.const 2))))
                (f32.store (local.get $o) (call $lanes_total (local.get $a00)))
                (if (local.get $paired)
                  (then (f32.store (i32.add (local.get $o) (i32.shl (local.get $half) (i32.const 2))) (call $lanes_total (local.get $a01)))))
                (local.set $o (i32.add (local.get $o) (local.get $outStride)))
                (f32.store (local.get $o) (call $lanes_total (local.get $a10)))
                (if (local.get $paired)
                  (then (f32.store (i32.add (local.get $o) (i32.shl (local.get $half) (i32.const 2))) (call $lanes_total (local.get $a11)))))
                (local.set $o (i32.add (local.get $o) (local.get $outStride)))
                (f32.store (local.get $o) (call $lanes_total (local.get $a20)))
                (if (local.get $paired)
                  (then (f32.store (i32.add (local.get $o) (i32.shl (local.get $half) (i32.const 2))) (call $lanes_total (local.get $a21)))))
                (local.set $o (i32.add (local.get $o) (local.get $outStride)))
                (f32.store (local.get $o) (call $lanes_total (local.get $a30)))
                (if (local.get $paired)
                  (then (f32.store (i32.add (local.get $o) (i32.shl (local.get $half) (i32.const 2))) (call $lanes_total (local.get $a31)))))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $rows)))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (br $tokens)))
        (local.set $rb (local.get $rend))
        (br $blocks)))
    (local.set $t (i32.and (local.get $n) (i32.const -4)))
    (block $rest_done
      (loop $rest_tokens
        (br_if $rest_done (i32.ge_u (local.get $t) (local.get $n)))
        (call $project_token
          (i32.add (local.get $out) (i32.shl (i32.mul (local.get $t) (local.get $rows)) (i32.const 2)))
          (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $stride)))
          (local.get $w) (local.get $rows) (local.get $cols))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $rest_tokens))))

  ;; One token's row of project, in its order: four rows share each pass over x, each row's sum in
  ;; its own vector. The four are a quarter of the matrix apart, as in $scores, then the rows past
  ;; four quarters go four adjacent at a time: a single push reads its weights from L3 (4 MB at
  ;; dim 512 with four projections), and the far-apart rows keep more reads in flight (~250 µs
  ;; against ~300 for those four matrices, ~690 against ~790 for three at dim 1,024; the same at
  ;; dim 256, from L2). Past the last row the pointers stay on it and its repeats are not stored.
  (func $project_token (param $out i32) (param $x i32) (param $w i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $cols4 i32) (local $rest i32) (local $wstride i32) (local $last i32) (local $xp i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $xv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $quarter i32) (local $gap i32) (local $o i32) (local $ostep i32) (local $xend i32) (local $xend2 i32)
    (local.set $quarter (i32.shr_u (local.get $rows) (i32.const 2)))
    (local.set $gap (select (local.get $quarter) (i32.const 1) (local.get $quarter)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (local.set $rest (i32.sub (local.get $cols) (local.get $cols4)))
    (local.set $wstride (i32.shl (local.get $cols) (i32.const 2)))
    ;; Each row's pass ends on x's pointer, as project's does: ~1.05x from L2 and L3 alike (one token
    ;; against 1,024 × 256 ~11.6 -> ~12.3 GMAC/s, 2,048 × 512 ~12.3 -> ~13.1; builds interleaved).
    ;; Two chunks of four columns a pass (to xend2), then the odd chunk left (to xend): the pointer
    ;; updates and the loop's test were 7 of its 16 instructions, now 7 of 25; ~1.08-1.13x from
    ;; L2 and L3 (2,048 × 512 ~13.0 -> ~14.6 GMAC/s), ~1.03x from memory; the bfloat16 twin
    ;; ~1.25x. Each lane still adds its columns in order, so the numbers are the same.
    (local.set $xend (i32.add (local.get $x) (i32.shl (local.get $cols4) (i32.const 2))))
    (local.set $xend2 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -8)) (i32.const 2))))
    (local.set $last (i32.add (local.get $w) (i32.mul (i32.sub (local.get $rows) (i32.const 1)) (local.get $wstride))))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        ;; Rows r, r + q, r + 2q, r + 3q (q a quarter of the rows), then the rows past 4q four
        ;; adjacent at a time.
        (if (i32.eq (local.get $r) (local.get $quarter))
          (then
            (local.set $r (i32.shl (local.get $quarter) (i32.const 2)))
            (local.set $gap (i32.const 1))
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))))
        (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $wstride))))
        (local.set $w1 (select (i32.add (local.get $w0) (i32.mul (local.get $gap) (local.get $wstride))) (local.get $last)
          (i32.lt_u (i32.add (local.get $r) (local.get $gap)) (local.get $rows))))
        (local.set $w2 (select (i32.add (local.get $w1) (i32.mul (local.get $gap) (local.get $wstride))) (local.get $last)
          (i32.lt_u (i32.add (local.get $r) (i32.shl (local.get $gap) (i32.const 1))) (local.get $rows))))
        (local.set $w3 (select (i32.add (local.get $w2) (i32.mul (local.get $gap) (local.get $wstride))) (local.get $last)
          (i32.lt_u (i32.add (local.get $r) (i32.mul (local.get $gap) (i32.const 3))) (local.get $rows))))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $xp (local.get $x))
        (block $body_done
          (loop $body
            (br_if $body_done (i32.ge_u (local.get $xp) (local.get $xend2)))
            (local.set $xv (v128.load align=4 (local.get $xp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load align=4 (local.get $w0)) (local.get $xv))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load align=4 (local.get $w1)) (local.get $xv))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load align=4 (local.get $w2)) (local.get $xv))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load align=4 (local.get $w3)) (local.get $xv))))
            (local.set $xv (v128.load offset=16 align=4 (local.get $xp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load offset=16 align=4 (local.get $w0)) (local.get $xv))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=16 align=4 (local.get $w1)) (local.get $xv))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=16 align=4 (local.get $w2)) (local.get $xv))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=16 align=4 (local.get $w3)) (local.get $xv))))
            (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
            (local.set $w0 (i32.add (local.get $w0) (i32.const 32)))
            (local.set $w1 (i32.add (local.get $w1) (i32.const 32)))
            (local.set $w2 (i32.add (local.get $w2) (i32.const 32)))
            (local.set $w3 (i32.add (local.get $w3) (i32.const 32)))
            (br $body)))
        (if (i32.lt_u (local.get $xp) (local.get $xend))
          (then
            (local.set $xv (v128.load align=4 (local.get $xp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load align=4 (local.get $w0)) (local.get $xv))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load align=4 (local.get $w1)) (local.get $xv))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load align=4 (local.get $w2)) (local.get $xv))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load align=4 (local.get $w3)) (local.get $xv))))
            (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
            (local.set $w0 (i32.add (local.get $w0) (i32.const 16)))
            (local.set $w1 (i32.add (local.get $w1) (i32.const 16)))
            (local.set $w2 (i32.add (local.get $w2) (i32.const 16)))
            (local.set $w3 (i32.add (local.get $w3) (i32.const 16)))))
        (if (local.get $rest)
          (then
            (local.set $xv (call $tail4 (local.get $xp) (local.get $rest)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (call $tail4 (local.get $w0) (local.get $rest)) (local.get $xv))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (call $tail4 (local.get $w1) (local.get $rest)) (local.get $xv))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (call $tail4 (local.get $w2) (local.get $rest)) (local.get $xv))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (call $tail4 (local.get $w3) (local.get $rest)) (local.get $xv))))))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))))
        (local.set $ostep (i32.shl (local.get $gap) (i32.const 2)))
        (f32.store (local.get $o) (call $lanes_total (local.get $a0)))
        (if (i32.lt_u (i32.add (local.get $r) (local.get $gap)) (local.get $rows))
          (then (f32.store (i32.add (local.get $o) (local.get $ostep)) (call $lanes_total (local.get $a1)))))
        (if (i32.lt_u (i32.add (local.get $r) (i32.shl (local.get $gap) (i32.const 1))) (local.get $rows))
          (then (f32.store (i32.add (local.get $o) (i32.shl (local.get $ostep) (i32.const 1))) (call $lanes_total (local.get $a2)))))
        (if (i32.lt_u (i32.add (local.get $r) (i32.mul (local.get $gap) (i32.const 3))) (local.get $rows))
          (then (f32.store (i32.add (local.get $o) (i32.mul (local.get $ostep) (i32.const 3))) (call $lanes_total (local.get $a3)))))
        (local.set $r (i32.add (local.get $r) (select (i32.const 1) (i32.const 4) (i32.gt_u (local.get $gap) (i32.const 1)))))
        (br $rows))))

  ;; [half twins end]

  ;; The last, partial chunk of a row: its rest (1 to 3) float32s at p, then zeros. Loaded one by
  ;; one: a vector load would read past the row, and past the end of memory for the last one.
  (func $tail4 (param $p i32) (param $rest i32) (result v128)
    (local $v v128)
    (local.set $v (f32x4.replace_lane 0 (v128.const i64x2 0 0) (f32.load (local.get $p))))
    (if (i32.gt_u (local.get $rest) (i32.const 1))
      (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load offset=4 (local.get $p))))))
    (if (i32.gt_u (local.get $rest) (i32.const 2))
      (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load offset=8 (local.get $p))))))
    (local.get $v))

  ;; $tail4 for a row of bfloat16s: its rest (1 to 3) widened to float32, then zeros.
  (func $tail4_bf16 (param $p i32) (param $rest i32) (result v128)
    (local $v v128)
    (local.set $v (i32x4.replace_lane 0 (v128.const i64x2 0 0) (i32.shl (i32.load16_u (local.get $p)) (i32.const 16))))
    (if (i32.gt_u (local.get $rest) (i32.const 1))
      (then (local.set $v (i32x4.replace_lane 1 (local.get $v) (i32.shl (i32.load16_u offset=2 (local.get $p)) (i32.const 16))))))
    (if (i32.gt_u (local.get $rest) (i32.const 2))
      (then (local.set $v (i32x4.replace_lane 2 (local.get $v) (i32.shl (i32.load16_u offset=4 (local.get $p)) (i32.const 16))))))
    (local.get $v))

  ;; $tail4 for a row of binary16s: its rest (1 to 3) widened to float32 (as half-twins.ts
  ;; widens four), then zeros.
  (func $tail4_f16 (param $p i32) (param $rest i32) (result v128)
    (local $v v128)
    (local.set $v (i32x4.replace_lane 0 (v128.const i64x2 0 0) (i32.shl (i32.load16_s (local.get $p)) (i32.const 13))))
    (if (i32.gt_u (local.get $rest) (i32.const 1))
      (then (local.set $v (i32x4.replace_lane 1 (local.get $v) (i32.shl (i32.load16_s offset=2 (local.get $p)) (i32.const 13))))))
    (if (i32.gt_u (local.get $rest) (i32.const 2))
      (then (local.set $v (i32x4.replace_lane 2 (local.get $v) (i32.shl (i32.load16_s offset=4 (local.get $p)) (i32.const 13))))))
    (f32x4.mul
      (v128.and (local.get $v) (v128.const i32x4 0x8fffffff 0x8fffffff 0x8fffffff 0x8fffffff))
      (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112)))

  ;; A sum's four lanes added as (l0 + l1) + (l2 + l3), in float32: project's last step.
  (func $lanes_total (param $a v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
      (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
)
