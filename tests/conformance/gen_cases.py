#!/usr/bin/python3
"""Generate rowshard's conformance cases from PyTorch.

Usage:
    /usr/bin/python3 tests/conformance/gen_cases.py [OUT_DIR]

OUT_DIR defaults to the ``cases/`` directory beside this script. Each case this
script knows is deleted and rewritten as ``OUT_DIR/<name>/`` (case.json plus
.npy files, see shared CONFORMANCE.md); other directories in OUT_DIR are left
alone. Everything is seeded (per case, from a CRC of its name), so a rerun
writes identical bytes.

Needs Debian's python3-torch (1.13) and python3-numpy; no network.

Where the expected values come from:
  * output / weight_after_forward / grad_weight: PyTorch (F.embedding,
    F.embedding_bag, dense weight.grad with sparse=False) on the initial
    table, one forward and one backward.
  * EXCEPTION, embedding_bag with scale_grad_by_freq=True: PyTorch 1.13's CPU
    kernel (_embedding_bag_dense_backward_cpu_sum_mean) divides by
    counts[sorted_indices[i]] where i is the unique-group counter instead of
    the group's own index (pytorch/pytorch#190063, fixed by #190264), so a
    row can be scaled by another row's frequency. These cases use the fixed
    kernel's formula (each occurrence scaled by 1/count(row), counts over the
    whole flattened input); the script asserts that torch 1.13 equals an
    emulation of the bug, so the discrepancy is understood, not guessed.
  * optimizer cases: per step, forward (renormalising in place when
    max_norm is set) + backward on the current table with the same input and
    grad_output, then the update on the rows the input touches (distinct
    indices other than padding_idx) through a sparse COO gradient with
    torch.optim.SGD / torch.optim.Adagrad; "rowwise_adagrad" follows the
    DESIGN.md formula in float32 torch ops. output.npy, grad_weight.npy and
    weight_after_forward.npy are those of the FIRST step.
  * error cases: only the inputs and weight.npy (the table must stay as it
    is). The script checks whether torch refuses the same call and prints a
    note where it does not (and where torch writes to the table before it
    refuses, which rowshard must not do).

Every expected array is also checked against an independent float64
reference written here, at half the case's tolerance. All cases use
rtol 1e-5 / atol 1e-6 (multi-step Adagrad included): the float32 results
stay within about 6% of that budget of the float64 reference.
"""

import json
import os
import shutil
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))

DEFAULT_RTOL, DEFAULT_ATOL = 1e-5, 1e-6

CASES = []


def case(name, op, R, D, indices, **kw):
    assert all(c["name"] != name for c in CASES), name
    spec = dict(
        name=name, op=op, R=R, D=D,
        indices=np.asarray(indices, dtype=np.int64),
        offsets=None if kw.get("offsets") is None else np.asarray(kw.pop("offsets"), dtype=np.int64),
        mode=kw.pop("mode", None if op == "embedding" else "mean"),
        padding_idx=kw.pop("padding_idx", None),
        max_norm=kw.pop("max_norm", None),
        norm_type=float(kw.pop("norm_type", 2.0)),
        sgbf=kw.pop("scale_grad_by_freq", False),
        ilo=kw.pop("include_last_offset", False),
        psw=kw.pop("per_sample_weights", None),  # "random" | array | None
        optimizer=kw.pop("optimizer", None),
        steps=kw.pop("steps", 1),
        expect_error=kw.pop("expect_error", None),
        torch_raises=kw.pop("torch_raises", None),
        rtol=kw.pop("rtol", DEFAULT_RTOL),
        atol=kw.pop("atol", DEFAULT_ATOL),
        pad_row=kw.pop("pad_row", "zero"),  # "zero" (nn.Embedding init) | "keep" (from_pretrained)
        weight_fn=kw.pop("weight_fn", None),
        allow_ties=kw.pop("allow_ties", False),
        go_shape=kw.pop("go_shape", None),  # grad_output shape for error cases that carry one
    )
    kw.pop("offsets", None)
    assert not kw, (name, kw)
    if op == "embedding":
        assert spec["mode"] is None
    CASES.append(spec)


def opt(name, lr, eps=1e-8, weight_decay=0.0, initial_accumulator_value=0.0):
    return {"name": name, "lr": float(lr), "eps": float(eps),
            "weight_decay": float(weight_decay),
            "initial_accumulator_value": float(initial_accumulator_value)}


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

def define_cases():
    E, B = "embedding", "embedding_bag"

    # ---- embedding: index shapes ------------------------------------------
    case("emb_index_1d", E, 10, 4, [3, 0, 7, 3, 9, 1])
    case("emb_index_2d", E, 12, 3, [[0, 5, 11, 5], [2, 2, 7, 1], [9, 4, 0, 10]])
    case("emb_index_3d", E, 8, 5, [[[1, 2], [7, 0], [2, 2]], [[6, 5], [3, 1], [4, 7]]])
    case("emb_index_0d", E, 6, 4, np.array(4, dtype=np.int64))
    case("emb_index_empty", E, 5, 3, np.zeros((0,), dtype=np.int64))
    case("emb_dim1_repeated", E, 7, 1, [1, 1, 1, 6, 0, 1])
    case("emb_dim7_2d", E, 20, 7, [[19, 0, 13], [4, 19, 8]])

    # ---- embedding: padding_idx --------------------------------------------
    case("emb_padding_idx_positive", E, 10, 4, [2, 5, 2, 0, 9], padding_idx=2)
    case("emb_padding_idx_negative", E, 10, 3, [[9, 1, 4], [9, 9, 2]], padding_idx=-1)
    case("emb_padding_idx_negative_row_nonzero", E, 9, 4, [6, 0, 6, 8, 3],
         padding_idx=-3, pad_row="keep")
    case("emb_padding_idx_zero_row_nonzero", E, 6, 2, [[0, 1], [5, 0]],
         padding_idx=0, pad_row="keep")

    # ---- embedding: max_norm -------------------------------------------------
    case("emb_max_norm_p2", E, 12, 4, [0, 3, 5, 3, 11, 7, 2], max_norm=1.6)
    case("emb_max_norm_p1", E, 10, 5, [9, 1, 4, 4, 0, 6], max_norm=3.5, norm_type=1.0)
    case("emb_max_norm_p3", E, 10, 3, [2, 8, 5, 1, 8], max_norm=1.2, norm_type=3.0)
    case("emb_max_norm_p2_2d_repeated", E, 16, 8,
         [[15, 3, 3, 9], [0, 15, 12, 3]], max_norm=2.6)
    case("emb_max_norm_padding_row_nonzero", E, 8, 4, [1, 3, 1, 6, 2], padding_idx=1,
         pad_row="keep", max_norm=1.0,
         weight_fn=lambda W: _scale_row(W, 1, 3.0))

    # ---- embedding: scale_grad_by_freq -----------------------------------
    case("emb_scale_grad_by_freq", E, 10, 4, [1, 1, 1, 4, 4, 7, 0, 1], scale_grad_by_freq=True)
    case("emb_scale_grad_by_freq_2d", E, 6, 2, [[5, 0, 5], [3, 5, 0], [1, 2, 3]],
         scale_grad_by_freq=True)
    case("emb_padding_scale_grad_by_freq", E, 10, 3, [4, 4, 2, 2, 2, 9, 4],
         padding_idx=4, scale_grad_by_freq=True)
    case("emb_padding_negative_max_norm_scale_grad_by_freq", E, 11, 5,
         [[9, 3, 3], [0, 9, 3]], padding_idx=-2, max_norm=1.8, scale_grad_by_freq=True)

    # ---- embedding_bag: the three modes, 2-D input ------------------------
    case("bag_sum_2d", B, 12, 4, [[0, 5, 11], [7, 2, 2], [9, 4, 1], [3, 10, 6]], mode="sum")
    case("bag_mean_2d", B, 12, 3, [[4, 1, 8, 0], [11, 6, 3, 2], [5, 5, 9, 7]], mode="mean")
    case("bag_max_2d", B, 14, 5, [[13, 0, 6], [2, 9, 4], [8, 1, 12], [3, 7, 10]], mode="max")

    # ---- 1-D input + offsets --------------------------------------------
    idx10 = [3, 14, 7, 0, 9, 2, 11, 5, 12, 6]
    case("bag_sum_offsets", B, 15, 4, idx10, offsets=[0, 3, 4, 8], mode="sum")
    case("bag_mean_offsets", B, 15, 7, idx10, offsets=[0, 3, 4, 8], mode="mean")
    case("bag_max_offsets", B, 15, 8, idx10, offsets=[0, 3, 4, 8], mode="max")
    case("bag_mean_single_bag", B, 9, 3, [8, 1, 4, 0, 6, 2], offsets=[0], mode="mean")
    case("bag_mean_dim1", B, 10, 1, [1, 2, 3, 9, 9, 0, 5], offsets=[0, 2, 5], mode="mean")

    # ---- include_last_offset --------------------------------------------
    idx9 = [1, 8, 3, 0, 13, 6, 10, 2, 5]
    case("bag_sum_include_last_offset", B, 14, 4, idx9, offsets=[0, 2, 5, 9], mode="sum",
         include_last_offset=True)
    case("bag_mean_include_last_offset", B, 14, 5, idx9, offsets=[0, 3, 7, 9], mode="mean",
         include_last_offset=True)
    case("bag_max_include_last_offset", B, 14, 3, idx9, offsets=[0, 4, 6, 9], mode="max",
         include_last_offset=True)

    # ---- empty bags (leading, middle, trailing) -------------------------
    idx7 = [4, 9, 1, 7, 0, 3, 8]
    off_empty = [0, 0, 3, 3, 5, 7]      # bags: [], [0,3), [], [3,5), [5,7), [] (trailing: offset == len)
    case("bag_sum_empty_bags", B, 10, 4, idx7, offsets=off_empty, mode="sum")
    case("bag_mean_empty_bags", B, 10, 3, idx7, offsets=off_empty, mode="mean")
    case("bag_max_empty_bags", B, 10, 5, idx7, offsets=off_empty, mode="max")
    off_empty_ilo = [0, 0, 3, 3, 7, 7]  # bags: [], [0,3), [], [3,7), []
    case("bag_mean_empty_bags_include_last_offset", B, 10, 4, idx7, offsets=off_empty_ilo,
         mode="mean", include_last_offset=True)
    case("bag_max_empty_bags_include_last_offset", B, 10, 2, idx7, offsets=off_empty_ilo,
         mode="max", include_last_offset=True)
    case("bag_sum_empty_bags_include_last_offset", B, 10, 3, idx7, offsets=off_empty_ilo,
         mode="sum", include_last_offset=True)
    case("bag_sum_all_empty", B, 6, 3, np.zeros((0,), np.int64), offsets=[0, 0, 0], mode="sum")
    case("bag_mean_all_empty", B, 6, 2, np.zeros((0,), np.int64), offsets=[0, 0], mode="mean")
    case("bag_max_all_empty", B, 6, 4, np.zeros((0,), np.int64), offsets=[0, 0, 0], mode="max")

    # ---- per_sample_weights (sum only) ----------------------------------
    case("bag_sum_per_sample_weights_offsets", B, 12, 4, [3, 7, 7, 0, 11, 2, 3],
         offsets=[0, 2, 5], mode="sum", per_sample_weights="random")
    case("bag_sum_per_sample_weights_2d", B, 12, 3, [[1, 5, 9], [2, 2, 8], [0, 11, 4]],
         mode="sum", per_sample_weights="random")
    case("bag_sum_per_sample_weights_padding", B, 12, 5, [3, 6, 6, 0, 11, 6, 2],
         offsets=[0, 3, 4, 6], mode="sum", padding_idx=6, pad_row="keep",
         per_sample_weights="random")
    case("bag_sum_per_sample_weights_empty_bags_include_last_offset", B, 10, 4,
         [5, 1, 9, 0, 3], offsets=[0, 0, 2, 5, 5], mode="sum", include_last_offset=True,
         per_sample_weights="random")
    case("bag_sum_per_sample_weights_scale_grad_by_freq", B, 10, 3,
         [2, 2, 5, 7, 2, 5, 1], offsets=[0, 3, 5], mode="sum",
         per_sample_weights="random", scale_grad_by_freq=True)

    # ---- padding_idx in bags ---------------------------------------------
    case("bag_sum_padding_offsets", B, 10, 4, [3, 1, 3, 5, 3, 8, 0], offsets=[0, 3, 4],
         mode="sum", padding_idx=3, pad_row="keep")
    # bags: [2,3,7], [3,3] (only padding), [] (empty), [0,9,3]
    case("bag_mean_padding_offsets", B, 10, 3, [2, 3, 7, 3, 3, 0, 9, 3],
         offsets=[0, 3, 5, 5], mode="mean", padding_idx=3, pad_row="keep")
    # padding row made the largest so that including it would change the max
    case("bag_max_padding_offsets", B, 10, 4, [0, 5, 2, 0, 0, 7, 0, 1, 9],
         offsets=[0, 3, 5, 5], mode="max", padding_idx=0, pad_row="keep",
         weight_fn=lambda W: _set_row(W, 0, 10.0))
    case("bag_mean_padding_negative", B, 10, 5, [9, 1, 4, 9, 2, 9, 9, 6],
         offsets=[0, 3, 5, 7], mode="mean", padding_idx=-1, pad_row="keep")
    case("bag_sum_padding_negative_2d", B, 12, 3, [[8, 1, 8], [8, 8, 8], [0, 5, 11]],
         mode="sum", padding_idx=-4)
    case("bag_mean_padding_2d", B, 12, 4, [[5, 5, 5], [1, 5, 2], [7, 0, 5], [3, 3, 9]],
         mode="mean", padding_idx=5, pad_row="keep")
    case("bag_max_padding_2d", B, 12, 3, [[2, 4, 9], [4, 4, 4], [4, 11, 0]],
         mode="max", padding_idx=4, pad_row="keep", weight_fn=lambda W: _set_row(W, 4, 10.0))

    # ---- max_norm in bags ------------------------------------------------
    case("bag_sum_max_norm_p2", B, 14, 4, [0, 3, 13, 3, 8, 5, 1], offsets=[0, 2, 5],
         mode="sum", max_norm=1.7)
    case("bag_mean_max_norm_p1", B, 12, 5, [11, 2, 6, 2, 0, 9], offsets=[0, 1, 4],
         mode="mean", max_norm=3.2, norm_type=1.0)
    case("bag_max_max_norm_p2", B, 12, 4, [4, 1, 10, 7, 2, 0, 4, 8], offsets=[0, 3, 6],
         mode="max", max_norm=1.3)
    case("bag_mean_max_norm_p3_2d", B, 10, 3, [[1, 4, 6], [9, 4, 0]], mode="mean",
         max_norm=1.1, norm_type=3.0)
    case("bag_sum_max_norm_padding_row_nonzero", B, 8, 4, [2, 5, 2, 0, 7],
         offsets=[0, 2], mode="sum", max_norm=1.0, padding_idx=2, pad_row="keep",
         weight_fn=lambda W: _scale_row(W, 2, 3.0))

    # ---- scale_grad_by_freq in bags (mixed counts; see the module doc) -----
    case("bag_sum_scale_grad_by_freq", B, 10, 3, [1, 1, 1, 5, 7, 7, 3], offsets=[0, 2, 5],
         mode="sum", scale_grad_by_freq=True)
    case("bag_mean_scale_grad_by_freq", B, 10, 4, [1, 1, 1, 5, 7, 7, 3, 0], offsets=[0, 2, 5],
         mode="mean", scale_grad_by_freq=True)
    case("bag_mean_scale_grad_by_freq_padding", B, 10, 3, [2, 6, 2, 6, 6, 4, 2, 8],
         offsets=[0, 3, 5], mode="mean", padding_idx=6, pad_row="keep",
         scale_grad_by_freq=True)
    case("bag_sum_scale_grad_by_freq_2d", B, 8, 2, [[0, 3, 3], [3, 6, 0], [7, 1, 3]],
         mode="sum", scale_grad_by_freq=True)

    # ---- repeated indices within and across bags -------------------------
    case("bag_sum_repeated_indices", B, 8, 4, [2, 2, 5, 2, 5, 5, 1, 2], offsets=[0, 3, 6],
         mode="sum")
    case("bag_mean_repeated_indices", B, 8, 3, [6, 6, 6, 0, 6, 0, 3], offsets=[0, 2, 4],
         mode="mean")
    case("bag_max_repeated_indices", B, 8, 4, [3, 3, 1, 3, 7, 7, 1, 1], offsets=[0, 3, 5],
         mode="max")
    # Deliberate ties between DIFFERENT rows (rows 1 and 2 share column values
    # with rows 5 and 4): torch 1.13 gives the gradient to the FIRST occurrence
    # in the bag (strict > scan), which here is the higher row id.
    case("bag_max_tie_first_occurrence", B, 8, 3, [5, 1, 0, 4, 2, 2, 4], offsets=[0, 3, 5],
         mode="max", allow_ties=True, weight_fn=_make_ties)

    # ---- optimizers ----------------------------------------------------
    case("opt_sgd_emb_steps1", E, 10, 4, [3, 0, 7, 3, 9], optimizer=opt("sgd", 0.1), steps=1)
    case("opt_sgd_emb_padding_steps3", E, 10, 3, [[2, 5, 2], [8, 2, 5]], padding_idx=2,
         optimizer=opt("sgd", 0.5), steps=3)
    case("opt_sgd_bag_sum_steps3", B, 12, 4, [0, 5, 5, 11, 2, 7, 5], offsets=[0, 3, 3, 5],
         mode="sum", optimizer=opt("sgd", 0.3), steps=3)
    case("opt_sgd_bag_max_steps3", B, 12, 5, [0, 5, 9, 11, 2, 7, 5, 3], offsets=[0, 3, 6],
         mode="max", optimizer=opt("sgd", 0.2), steps=3)
    case("opt_sgd_bag_mean_max_norm_steps3", B, 12, 4, [4, 1, 9, 1, 0, 6], offsets=[0, 2, 4],
         mode="mean", max_norm=1.5, optimizer=opt("sgd", 0.5), steps=3)
    case("opt_sgd_bag_mean_scale_grad_by_freq_steps3", B, 10, 3, [1, 1, 1, 5, 7, 7, 3],
         offsets=[0, 2, 5], mode="mean", scale_grad_by_freq=True,
         optimizer=opt("sgd", 0.4), steps=3)
    case("opt_adagrad_emb_steps1", E, 10, 4, [3, 0, 7, 3, 9], optimizer=opt("adagrad", 0.1),
         steps=1)
    case("opt_adagrad_emb_max_norm_steps3", E, 12, 3, [[1, 5, 1], [11, 0, 5]], max_norm=1.4,
         optimizer=opt("adagrad", 0.2, initial_accumulator_value=0.1), steps=3)
    case("opt_adagrad_bag_sum_per_sample_weights_steps3", B, 12, 4, [3, 7, 7, 0, 11, 2, 3],
         offsets=[0, 2, 5], mode="sum", per_sample_weights="random",
         optimizer=opt("adagrad", 0.1, initial_accumulator_value=0.1), steps=3)
    case("opt_adagrad_bag_mean_padding_steps3", B, 10, 3, [2, 3, 7, 3, 3, 0, 9, 3, 2],
         offsets=[0, 3, 5, 5], mode="mean", padding_idx=3,
         optimizer=opt("adagrad", 0.1), steps=3)
    case("opt_adagrad_bag_max_steps3", B, 12, 4, [0, 5, 9, 11, 2, 7, 5, 3], offsets=[0, 3, 6],
         mode="max", optimizer=opt("adagrad", 0.1, initial_accumulator_value=0.1), steps=3)
    case("opt_adagrad_bag_mean_empty_bags_steps4", B, 10, 3, [4, 9, 1, 7, 0, 3, 8],
         offsets=[0, 0, 3, 3, 5, 7], mode="mean", optimizer=opt("adagrad", 0.05), steps=4)
    case("opt_adagrad_bag_sum_include_last_offset_steps3", B, 14, 4,
         [1, 8, 3, 0, 13, 6, 10, 2, 5, 8], offsets=[0, 2, 5, 10], mode="sum",
         include_last_offset=True,
         optimizer=opt("adagrad", 0.1, initial_accumulator_value=0.1), steps=3)
    case("opt_rowwise_adagrad_emb_steps1", E, 10, 4, [3, 0, 7, 3, 9],
         optimizer=opt("rowwise_adagrad", 0.1), steps=1)
    case("opt_rowwise_adagrad_emb_scale_grad_by_freq_steps3", E, 10, 5, [2, 2, 2, 6, 1, 6],
         scale_grad_by_freq=True, optimizer=opt("rowwise_adagrad", 0.1), steps=3)
    case("opt_rowwise_adagrad_bag_mean_padding_steps3", B, 10, 3, [2, 3, 7, 3, 3, 0, 9, 3, 2],
         offsets=[0, 3, 5, 5], mode="mean", padding_idx=3,
         optimizer=opt("rowwise_adagrad", 0.1), steps=3)
    case("opt_rowwise_adagrad_bag_max_weight_decay_steps3", B, 12, 4,
         [0, 5, 9, 11, 2, 7, 5, 3], offsets=[0, 3, 6], mode="max",
         optimizer=opt("rowwise_adagrad", 0.1, weight_decay=0.01), steps=3)
    case("opt_rowwise_adagrad_bag_sum_weight_decay_steps3", B, 12, 5,
         [0, 5, 5, 11, 2, 7, 5], offsets=[0, 3, 3, 5], mode="sum",
         optimizer=opt("rowwise_adagrad", 0.2, weight_decay=0.05), steps=3)
    case("opt_rowwise_adagrad_bag_sum_max_norm_steps3", B, 12, 4, [4, 1, 9, 1, 0, 6],
         offsets=[0, 2, 4], mode="sum", max_norm=1.5,
         optimizer=opt("rowwise_adagrad", 0.2), steps=3)
    case("opt_rowwise_adagrad_bag_mean_accumulator_steps5", B, 16, 8,
         [[3, 15, 3], [0, 9, 12], [7, 3, 1]], mode="mean",
         optimizer=opt("rowwise_adagrad", 0.05, weight_decay=0.01,
                       initial_accumulator_value=0.1), steps=5)

    # ---- errors ------------------------------------------------------------
    OOR, INV = "out_of_range", "invalid_argument"
    case("err_emb_index_out_of_range_high", E, 6, 3, [0, 6, 2], expect_error=OOR,
         torch_raises=True)
    case("err_emb_index_out_of_range_negative", E, 6, 3, [1, -1, 2], expect_error=OOR,
         torch_raises=True)
    case("err_emb_index_out_of_range_2d", E, 6, 3, [[0, 1], [2, 100]], expect_error=OOR,
         torch_raises=True)
    case("err_emb_padding_idx_out_of_range_high", E, 6, 3, [0, 1], padding_idx=6,
         expect_error=OOR, torch_raises=True)
    case("err_emb_padding_idx_out_of_range_negative", E, 6, 3, [0, 1], padding_idx=-7,
         expect_error=OOR, torch_raises=True)
    # torch renormalises rows 0 and 2 before it notices 7: rowshard must not
    case("err_emb_max_norm_index_out_of_range", E, 6, 4, [0, 2, 7], max_norm=0.5,
         expect_error=OOR, torch_raises=True)
    case("err_bag_index_out_of_range_high", B, 6, 3, [0, 1, 6, 2], offsets=[0, 2],
         mode="sum", expect_error=OOR, torch_raises=True)
    case("err_bag_index_out_of_range_negative", B, 6, 3, [0, 1, -2, 2], offsets=[0, 2],
         mode="mean", expect_error=OOR, torch_raises=True)
    case("err_bag_index_out_of_range_2d_max", B, 6, 3, [[0, 1], [9, 2]], mode="max",
         expect_error=OOR, torch_raises=True)
    case("err_bag_offset_past_end", B, 6, 3, [0, 1, 2, 3, 4], offsets=[0, 2, 6],
         mode="sum", expect_error=OOR, torch_raises=True)
    case("err_bag_offset_past_end_include_last_offset", B, 6, 3, [0, 1, 2, 3, 4],
         offsets=[0, 2, 7], mode="mean", include_last_offset=True, expect_error=OOR,
         torch_raises=True)
    case("err_bag_padding_idx_out_of_range_high", B, 6, 3, [0, 1, 2], offsets=[0],
         mode="sum", padding_idx=6, expect_error=OOR, torch_raises=True)
    case("err_bag_padding_idx_out_of_range_negative", B, 6, 3, [0, 1, 2], offsets=[0],
         mode="mean", padding_idx=-7, expect_error=OOR, torch_raises=True)
    case("err_bag_offsets_first_nonzero", B, 6, 3, [0, 1, 2, 3], offsets=[1, 3],
         mode="mean", expect_error=INV, torch_raises=True)
    case("err_bag_offsets_decreasing", B, 6, 3, [0, 1, 2, 3, 4], offsets=[0, 3, 1],
         mode="sum", expect_error=INV, torch_raises=True)
    # torch 1.13 accepts this one in max mode and returns garbage
    case("err_bag_offsets_decreasing_max", B, 6, 3, [0, 1, 2, 3, 4], offsets=[0, 3, 1],
         mode="max", expect_error=INV, torch_raises=False)
    case("err_bag_per_sample_weights_mean", B, 6, 3, [0, 1, 2], offsets=[0, 1], mode="mean",
         per_sample_weights="random", expect_error=INV, torch_raises=True)
    case("err_bag_per_sample_weights_max", B, 6, 3, [0, 1, 2], offsets=[0, 1], mode="max",
         per_sample_weights="random", expect_error=INV, torch_raises=True)
    case("err_bag_per_sample_weights_wrong_length", B, 6, 3, [0, 1, 2], offsets=[0, 1],
         mode="sum", per_sample_weights=np.array([0.5, 2.0], np.float32),
         expect_error=INV, torch_raises=True)
    case("err_bag_per_sample_weights_wrong_shape_2d", B, 6, 3, [[0, 1], [2, 3]], mode="sum",
         per_sample_weights=np.array([0.5, 2.0, 1.0, 3.0], np.float32),
         expect_error=INV, torch_raises=True)
    # torch renormalises the rows before it refuses: rowshard must not
    case("err_bag_per_sample_weights_mean_max_norm", B, 6, 4, [0, 1, 2], offsets=[0, 1],
         mode="mean", max_norm=0.5, per_sample_weights="random", expect_error=INV,
         torch_raises=True)
    case("err_bag_max_scale_grad_by_freq", B, 6, 3, [0, 1, 1], offsets=[0, 1], mode="max",
         scale_grad_by_freq=True, expect_error=INV, torch_raises=True)
    case("err_bag_2d_input_with_offsets", B, 6, 3, [[0, 1], [2, 3]], offsets=[0, 1],
         mode="sum", expect_error=INV, torch_raises=True)
    case("err_bag_include_last_offset_empty_offsets", B, 6, 3, [0, 1, 2],
         offsets=np.zeros((0,), np.int64), mode="sum", include_last_offset=True,
         expect_error=INV, torch_raises=True)
    case("err_bag_1d_input_without_offsets", B, 6, 3, [0, 1, 2], mode="sum",
         expect_error=INV, torch_raises=True)
    case("err_bag_index_out_of_range_with_sgd", B, 6, 3, [0, 1, 2, 6], offsets=[0, 2],
         mode="sum", optimizer=opt("sgd", 0.1), steps=1, expect_error=OOR,
         torch_raises=True, go_shape=(2, 3))


# weight modifiers -----------------------------------------------------------

def _set_row(W, r, v):
    W = W.copy()
    W[r] = np.float32(v) + W[r] * np.float32(0.1)
    return W


def _scale_row(W, r, s):
    W = W.copy()
    W[r] = W[r] * np.float32(s)
    return W


def _make_ties(W):
    W = W.copy()
    W[1, 0] = W[5, 0] = np.float32(4.0)   # bag 0 = [5, 1, 0]: col 0 tie, first is row 5
    W[1, 2] = W[5, 2] = np.float32(3.5)   # col 2 tie too
    W[4, 1] = W[2, 1] = np.float32(4.5)   # bag 1 = [4, 2]: col 1 tie, first is row 4
    return W


# ---------------------------------------------------------------------------
# Helpers: structure of the input
# ---------------------------------------------------------------------------

def norm_pad(c):
    p = c["padding_idx"]
    if p is None:
        return None
    return p + c["R"] if p < 0 else p


def bags_of(c):
    """List of bags, each a list of flat positions into indices.reshape(-1)."""
    idx = c["indices"]
    if idx.ndim == 2:
        Bn, L = idx.shape
        return [list(range(b * L, (b + 1) * L)) for b in range(Bn)]
    n = idx.size
    offs = [int(o) for o in c["offsets"]]
    if c["ilo"]:
        starts, ends = offs[:-1], offs[1:]
    else:
        starts, ends = offs, offs[1:] + [n]
    return [list(range(s, e)) for s, e in zip(starts, ends)]


def out_shape(c):
    if c["op"] == "embedding":
        return tuple(c["indices"].shape) + (c["D"],)
    return (len(bags_of(c)), c["D"])


# ---------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------

def torch_forward(c, w, psw):
    idx = torch.from_numpy(c["indices"].copy())
    if c["op"] == "embedding":
        return F.embedding(idx, w, padding_idx=c["padding_idx"], max_norm=c["max_norm"],
                           norm_type=c["norm_type"], scale_grad_by_freq=c["sgbf"],
                           sparse=False)
    offs = None if c["offsets"] is None else torch.from_numpy(c["offsets"].copy())
    tpsw = None if psw is None else torch.from_numpy(psw.copy())
    return F.embedding_bag(idx, w, offs, max_norm=c["max_norm"], norm_type=c["norm_type"],
                           scale_grad_by_freq=c["sgbf"], mode=c["mode"], sparse=False,
                           per_sample_weights=tpsw, include_last_offset=c["ilo"],
                           padding_idx=c["padding_idx"])


def emulate_bag_sgbf_grad(c, go, psw, buggy):
    """float32 emulation of _embedding_bag_dense_backward_cpu_sum_mean with
    scale_grad_by_freq (buggy=True: torch 1.13's counts[indices_data[i]])."""
    R, D = c["R"], c["D"]
    flat = c["indices"].reshape(-1)
    pad = norm_pad(c)
    bags = bags_of(c)
    pos2bag = np.full(flat.size, -1, np.int64)
    bag_size = np.zeros(len(bags), np.int64)
    for b, ps in enumerate(bags):
        for p in ps:
            pos2bag[p] = b
            if flat[p] != pad:
                bag_size[b] += 1
    order = np.argsort(flat, kind="stable")
    sidx = flat[order]
    counts = np.bincount(flat, minlength=R)
    G = np.zeros((R, D), np.float32)
    psw_flat = None if psw is None else psw.reshape(-1)
    start, gi = 0, 0
    while start < sidx.size:
        end = start
        while end < sidx.size and sidx[end] == sidx[start]:
            end += 1
        index = int(sidx[start])
        if index != pad:
            for j in range(start, end):
                pos = order[j]
                b = pos2bag[pos]
                scale = 1.0
                scale /= float(counts[sidx[gi]] if buggy else counts[index])
                if c["mode"] == "mean" and bag_size[b] != 0:
                    scale /= float(bag_size[b])
                if psw_flat is not None:
                    scale *= float(psw_flat[pos])
                G[index] = G[index] + np.float32(scale) * go[b]
        start, gi = end, gi + 1
    return G


def dense_grad(c, w, go, psw):
    """Dense weight gradient of torch's backward, except the fixed formula for
    embedding_bag + scale_grad_by_freq (checked against the bug emulation)."""
    g = w.grad.detach().numpy().copy()
    if c["op"] == "embedding_bag" and c["sgbf"]:
        bug = emulate_bag_sgbf_grad(c, go, psw, buggy=True)
        assert np.allclose(g, bug, rtol=1e-6, atol=1e-7), (c["name"], "torch != bug emulation")
        fixed = emulate_bag_sgbf_grad(c, go, psw, buggy=False)
        if not np.allclose(g, fixed, rtol=1e-6, atol=1e-7):
            NOTES.append(f"{c['name']}: torch 1.13 scale_grad_by_freq bag gradient differs "
                         f"from the documented one (pytorch#190063); wrote the fixed formula")
        return fixed
    return g


def touched_rows(c):
    flat = c["indices"].reshape(-1)
    pad = norm_pad(c)
    return np.unique(flat[flat != pad]) if pad is not None else np.unique(flat)


def check_max_unique(c, W):
    """No two distinct rows tie for a column maximum inside a max-mode bag."""
    if c["op"] != "embedding_bag" or c["mode"] != "max" or c["allow_ties"]:
        return
    flat = c["indices"].reshape(-1)
    pad = norm_pad(c)
    for ps in bags_of(c):
        rows = sorted({int(flat[p]) for p in ps if flat[p] != pad})
        if len(rows) < 2:
            continue
        vals = W[rows]                      # [n, D]
        top = vals.max(axis=0)
        nties = (vals == top[None, :]).sum(axis=0)
        assert (nties == 1).all(), (c["name"], "tie in max mode", rows)


def run_torch(c, W0, go, psw):
    """Returns dict of expected arrays (float32)."""
    R, D = c["R"], c["D"]
    w = torch.from_numpy(W0.copy()).requires_grad_(True)
    res = {}
    o = c["optimizer"]
    steps = c["steps"] if o else 1
    if o:
        if o["name"] == "sgd":
            assert o["weight_decay"] == 0.0
            topt = torch.optim.SGD([w], lr=o["lr"])
        elif o["name"] == "adagrad":
            assert o["weight_decay"] == 0.0
            topt = torch.optim.Adagrad([w], lr=o["lr"], eps=o["eps"],
                                       initial_accumulator_value=o["initial_accumulator_value"])
        else:
            G = torch.full((R,), o["initial_accumulator_value"], dtype=torch.float32)
    rows = touched_rows(c)
    for s in range(steps):
        w.grad = None
        out = torch_forward(c, w, psw)
        wf = w.detach().numpy().copy()
        check_max_unique(c, wf)
        out.backward(torch.from_numpy(go.copy()))
        g = dense_grad(c, w, go, psw)
        if s == 0:
            res["output"] = out.detach().numpy().copy()
            res["weight_after_forward"] = wf
            res["grad_weight"] = g.copy()
        if not o:
            break
        with torch.no_grad():
            if o["name"] in ("sgd", "adagrad"):
                vals = torch.from_numpy(g[rows].copy())
                w.grad = torch.sparse_coo_tensor(torch.from_numpy(rows[None, :].copy()), vals,
                                                 (R, D))
                topt.step()
            else:
                gt = torch.from_numpy(g)
                lr, eps, wd = o["lr"], o["eps"], o["weight_decay"]
                for r in rows:
                    gr = gt[r]
                    if wd > 0:
                        gr = gr + wd * w[r]
                    G[r] = G[r] + torch.mean(gr * gr)
                    w[r] = w[r] - lr * gr / (torch.sqrt(G[r]) + eps)
    if o:
        res["weight_updated"] = w.detach().numpy().copy()
        if o["name"] == "adagrad":
            res["optimizer_state"] = topt.state[w]["sum"].numpy().copy()
        elif o["name"] == "rowwise_adagrad":
            res["optimizer_state"] = G.numpy().copy()
    return res


# ---------------------------------------------------------------------------
# Independent float64 reference
# ---------------------------------------------------------------------------

def ref_renorm(c, W):
    if c["max_norm"] is None:
        return 0
    p = c["norm_type"]
    n = 0
    for r in np.unique(c["indices"].reshape(-1)):
        nrm = float(np.sum(np.abs(W[r]) ** p) ** (1.0 / p))
        if nrm > c["max_norm"]:
            W[r] *= c["max_norm"] / (nrm + 1e-7)
            n += 1
    return n


def ref_fwd_bwd(c, W, go, psw):
    """W float64 (already renormalised). Returns (out, grad) float64, with the
    documented semantics (max: first occurrence wins ties)."""
    R, D = c["R"], c["D"]
    flat = c["indices"].reshape(-1)
    pad = norm_pad(c)
    counts = np.bincount(flat, minlength=R).astype(np.float64)
    go = go.astype(np.float64)
    grad = np.zeros((R, D))
    if c["op"] == "embedding":
        out = W[flat].reshape(out_shape(c))
        go2 = go.reshape(-1, D)
        for p, r in enumerate(flat):
            if r == pad:
                continue
            grad[r] += go2[p] / (counts[r] if c["sgbf"] else 1.0)
        return out, grad
    bags = bags_of(c)
    out = np.zeros((len(bags), D))
    pw = None if psw is None else psw.reshape(-1).astype(np.float64)
    for b, ps in enumerate(bags):
        ps = [p for p in ps if flat[p] != pad]
        if not ps:
            continue
        if c["mode"] in ("sum", "mean"):
            n = len(ps) if c["mode"] == "mean" else 1
            for p in ps:
                wgt = 1.0 if pw is None else pw[p]
                out[b] += wgt * W[flat[p]] / n
                grad[flat[p]] += wgt * go[b] / n / (counts[flat[p]] if c["sgbf"] else 1.0)
        else:
            for d in range(D):
                best = None
                for p in ps:
                    if best is None or W[flat[p], d] > W[flat[best], d]:
                        best = p
                out[b, d] = W[flat[best], d]
                grad[flat[best], d] += go[b, d]
    return out, grad


def run_ref(c, W0, go, psw):
    R, D = c["R"], c["D"]
    W = W0.astype(np.float64)
    o = c["optimizer"]
    steps = c["steps"] if o else 1
    S = None
    if o and o["name"] == "adagrad":
        S = np.full((R, D), o["initial_accumulator_value"])
    if o and o["name"] == "rowwise_adagrad":
        S = np.full((R,), o["initial_accumulator_value"])
    rows = touched_rows(c)
    res = {}
    for s in range(steps):
        nren = ref_renorm(c, W)
        out, g = ref_fwd_bwd(c, W, go, psw)
        if s == 0:
            res["output"] = out
            res["weight_after_forward"] = W.copy()
            res["grad_weight"] = g
            res["_renormed"] = nren
        if not o:
            break
        for r in rows:
            gr = g[r].copy()
            if o["name"] == "sgd":
                W[r] -= o["lr"] * gr
            elif o["name"] == "adagrad":
                S[r] += gr * gr
                W[r] -= o["lr"] * gr / (np.sqrt(S[r]) + o["eps"])
            else:
                if o["weight_decay"] > 0:
                    gr = gr + o["weight_decay"] * W[r]
                S[r] += np.mean(gr * gr)
                W[r] -= o["lr"] * gr / (np.sqrt(S[r]) + o["eps"])
    if o:
        res["weight_updated"] = W
        if S is not None:
            res["optimizer_state"] = S
    return res


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

NOTES = []


def make_inputs(c):
    rng = np.random.default_rng(zlib.crc32(c["name"].encode()))
    R, D = c["R"], c["D"]
    W = rng.standard_normal((R, D)).astype(np.float32)
    pad = norm_pad(c)
    if pad is not None and 0 <= pad < R and c["pad_row"] == "zero":
        W[pad] = 0.0
    if c["weight_fn"] is not None:
        W = c["weight_fn"](W).astype(np.float32)
    psw = c["psw"]
    if isinstance(psw, str):
        assert psw == "random"
        psw = rng.uniform(-1.5, 2.0, size=c["indices"].shape).astype(np.float32)
    go = None
    if c["expect_error"] is None:
        go = rng.standard_normal(out_shape(c)).astype(np.float32)
    elif c["go_shape"] is not None:
        go = rng.standard_normal(c["go_shape"]).astype(np.float32)
    return W, psw, go


def case_json(c):
    return {
        "op": c["op"],
        "num_embeddings": c["R"],
        "embedding_dim": c["D"],
        "mode": c["mode"],
        "padding_idx": c["padding_idx"],
        "max_norm": None if c["max_norm"] is None else float(c["max_norm"]),
        "norm_type": c["norm_type"],
        "scale_grad_by_freq": bool(c["sgbf"]),
        "include_last_offset": bool(c["ilo"]),
        "optimizer": c["optimizer"],
        "steps": int(c["steps"]),
        "expect_error": c["expect_error"],
        "rtol": c["rtol"],
        "atol": c["atol"],
    }


def save(d, name, arr, dtype):
    arr = np.array(arr, dtype=dtype, order="C")  # (ascontiguousarray would make 0-D 1-D)
    np.save(os.path.join(d, name + ".npy"), arr, allow_pickle=False)


def gen_case(c, out_dir):
    R, D = c["R"], c["D"]
    assert R <= 24 and D in (1, 2, 3, 4, 5, 7, 8), c["name"]
    W0, psw, go = make_inputs(c)
    d = os.path.join(out_dir, c["name"])
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)

    arrays = {"weight": W0, "indices": c["indices"]}
    if c["offsets"] is not None:
        arrays["offsets"] = c["offsets"]
    if psw is not None:
        arrays["per_sample_weights"] = psw
    if go is not None:
        arrays["grad_output"] = go

    if c["expect_error"] is not None:
        w = torch.from_numpy(W0.copy()).requires_grad_(True)
        raised = None
        try:
            torch_forward(c, w, psw)
        except Exception as e:  # noqa: BLE001 - any refusal grounds the case
            raised = f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"
        if c["torch_raises"]:
            assert raised is not None, (c["name"], "torch was expected to raise")
        else:
            assert raised is None, (c["name"], "torch raised unexpectedly", raised)
            NOTES.append(f"{c['name']}: torch 1.13 does NOT refuse this input "
                         f"(rowshard must: {c['expect_error']})")
        if not np.array_equal(w.detach().numpy(), W0):
            NOTES.append(f"{c['name']}: torch 1.13 modified the table before refusing "
                         f"(max_norm renorm); expected table is unchanged")
    else:
        exp = run_torch(c, W0, go, psw)
        ref = run_ref(c, W0, go, psw)
        for k, v in exp.items():
            assert v.shape == ref[k].shape, (c["name"], k, v.shape, ref[k].shape)
            ok = np.allclose(v, ref[k], rtol=c["rtol"] / 2, atol=c["atol"] / 2)
            if not ok:
                err = np.abs(v - ref[k]).max()
                raise AssertionError(f"{c['name']}: {k} differs from float64 reference "
                                     f"(max abs {err})")
        if c["max_norm"] is not None:
            assert ref["_renormed"] > 0, (c["name"], "max_norm renormalised nothing")
            assert not np.array_equal(exp["weight_after_forward"], W0)
        arrays.update(exp)

    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case_json(c), f, indent=2)
        f.write("\n")
    for k, v in arrays.items():
        dt = np.int64 if k in ("indices", "offsets") else np.float32
        save(d, k, v, dt)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "cases")
    os.makedirs(out_dir, exist_ok=True)
    define_cases()
    for c in CASES:
        gen_case(c, out_dir)
    print(f"wrote {len(CASES)} cases to {out_dir}")
    for n in dict.fromkeys(NOTES):
        print("note:", n)


if __name__ == "__main__":
    main()
