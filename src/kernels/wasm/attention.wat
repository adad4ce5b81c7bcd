;; attnstream's attention kernels in WebAssembly SIMD: the twins of src/kernels/dot.ts (scores) and
;; of the engine's weighted sum of values (mix). Compiled by scripts/build-wasm.ts into
;; attention-wasm.generated.ts, which embeds the bytes so the core loads without file access.
;;
;; Keys and values are float32 rows (the cache's storage); queries, scores, weights and outputs
;; are float64. Every product and sum is taken in float64, as the TypeScript kernels do, so both
;; paths keep the same error bounds: only the order of the additions differs. A float32 row of 4
;; lanes is loaded once and widened into two f64x2 halves.
;;
;; Pointers are byte offsets into the imported memory; nothing here allocates.
(module
  (memory (import "env" "memory") 1)

  ;; out[r] = scale · Σ_c q[c]·k[r·d + c] for r in [0, count): one query against `count` contiguous key rows.
  ;; Four f64x2 accumulators (8 channels per pass) keep the additions independent.
  (func (export "scores") (param $q i32) (param $k i32) (param $count i32) (param $d i32) (param $scale f64) (param $out i32)
    (local $r i32) (local $c i32) (local $row i32) (local $p i32) (local $kv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s f64)
    (local $d8 i32) (local $d4 i32)
    (local.set $d8 (i32.and (local.get $d) (i32.const -8)))
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (local.set $row (local.get $k))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $count)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $s (f64.const 0))
        (local.set $c (i32.const 0))
        ;; 8 channels per pass
        (block $eights_done
          (loop $eights
            (br_if $eights_done (i32.ge_u (local.get $c) (local.get $d8)))
            (local.set $p (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul
              (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $p)))
              (v128.load align=8 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (local.get $p)))
              (v128.load offset=16 align=8 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 align=4 (local.get $p)))
              (v128.load offset=32 align=8 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 align=4 (local.get $p)))
              (v128.load offset=48 align=8 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 8)))
            (br $eights)))
        ;; 4 more channels when d mod 8 ≥ 4
        (if (i32.lt_u (local.get $c) (local.get $d4))
          (then
            (local.set $kv (v128.load align=4 (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2)))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul
              (f64x2.promote_low_f32x4 (local.get $kv))
              (v128.load align=8 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $kv) (local.get $kv)))
              (v128.load offset=16 align=8 (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))))
        ;; the last d mod 4 channels, one at a time
        (block $tail_done
          (loop $tail
            (br_if $tail_done (i32.ge_u (local.get $c) (local.get $d)))
            (local.set $s (f64.add (local.get $s) (f64.mul
              (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2)))))
              (f64.load (i32.add (local.get $q) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $a0 (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 3)))
          (f64.mul (local.get $scale)
            (f64.add (local.get $s)
              (f64.add (f64x2.extract_lane 0 (local.get $a0)) (f64x2.extract_lane 1 (local.get $a0))))))
        (local.set $row (i32.add (local.get $row) (i32.shl (local.get $d) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; out[c] += Σ_r w[r]·v[r·d + c] for c in [0, d): `count` weights against `count` contiguous value rows.
  ;; Columns outside, rows inside: each 4-column chunk of out stays in registers across the rows,
  ;; two rows per pass into separate accumulators. Weights are broadcast by load64_splat (a plain
  ;; load) and float32 halves loaded by load64_zero, to keep shuffles off the one port that widens.
  (func (export "mix") (param $w i32) (param $v i32) (param $count i32) (param $d i32) (param $out i32)
    (local $r i32) (local $c i32) (local $p i32) (local $stride i32) (local $wr v128) (local $wr2 v128)
    (local $kv v128)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128) (local $s f64) (local $count2 i32) (local $o i32)
    (local.set $stride (i32.shl (local.get $d) (i32.const 2)))
    (local.set $count2 (i32.and (local.get $count) (i32.const -2)))
    (block $chunks_done
      (loop $chunks
        (br_if $chunks_done (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $d)))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $a0 (v128.load align=8 (local.get $o)))
        (local.set $a1 (v128.load offset=16 align=8 (local.get $o)))
        (local.set $b0 (v128.const i64x2 0 0))
        (local.set $b1 (v128.const i64x2 0 0))
        (local.set $p (i32.add (local.get $v) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $pairs_done
          (loop $pairs
            (br_if $pairs_done (i32.ge_u (local.get $r) (local.get $count2)))
            (local.set $wr (v128.load64_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 3)))))
            (local.set $wr2 (v128.load64_splat offset=8 (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 3)))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $wr) (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $p))))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $wr) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (local.get $p))))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $wr2)
              (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (i32.add (local.get $p) (local.get $stride)))))))
            (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $wr2)
              (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (i32.add (local.get $p) (local.get $stride)))))))
            (local.set $p (i32.add (local.get $p) (i32.shl (local.get $stride) (i32.const 1))))
            (local.set $r (i32.add (local.get $r) (i32.const 2)))
            (br $pairs)))
        (if (i32.lt_u (local.get $r) (local.get $count))
          (then
            (local.set $wr (v128.load64_splat (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 3)))))
            (local.set $kv (v128.load align=4 (local.get $p)))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $wr) (f64x2.promote_low_f32x4 (local.get $kv)))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $wr)
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $kv) (local.get $kv))))))))
        (v128.store align=8 (local.get $o) (f64x2.add (local.get $a0) (local.get $b0)))
        (v128.store offset=16 align=8 (local.get $o) (f64x2.add (local.get $a1) (local.get $b1)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $chunks)))
    ;; the last d mod 4 columns, one at a time
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $d)))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $s (f64.load (local.get $o)))
        (local.set $p (i32.add (local.get $v) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $count)))
            (local.set $s (f64.add (local.get $s) (f64.mul
              (f64.load (i32.add (local.get $w) (i32.shl (local.get $r) (i32.const 3))))
              (f64.promote_f32 (f32.load (local.get $p))))))
            (local.set $p (i32.add (local.get $p) (local.get $stride)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (f64.store (local.get $o) (local.get $s))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail))))
)
