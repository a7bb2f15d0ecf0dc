"""The process's heap while kits are started (``common.service._Heap``): the raised young threshold and the frozen
start-up heap, given back only when the last started kit stops, in whatever order kits stop."""

from __future__ import annotations

import gc

import pytest

from common.service import YOUNG_GC_THRESHOLD, _Heap


@pytest.fixture
def cpython_thresholds():
    assert _Heap.holders == 0, "a kit started by an earlier test was never stopped"
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*before)
    gc.unfreeze()


def test_the_last_kit_to_stop_gives_the_thresholds_back_whatever_the_order(cpython_thresholds) -> None:
    _Heap.settle()  # kit A
    assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    _Heap.settle()  # kit B, while A runs: it must not save the raised threshold as CPython's
    _Heap.release()  # A stops first
    assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)  # B still runs
    _Heap.release()  # B stops
    assert gc.get_threshold() == cpython_thresholds
    assert gc.get_freeze_count() == 0


def test_a_kit_started_again_after_all_stopped_raises_it_again(cpython_thresholds) -> None:
    _Heap.settle()
    _Heap.release()
    _Heap.settle()
    assert gc.get_threshold()[0] == YOUNG_GC_THRESHOLD
    _Heap.release()
    assert gc.get_threshold() == cpython_thresholds
