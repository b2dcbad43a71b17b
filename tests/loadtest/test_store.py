"""The samples a run keeps for the distribution chart."""

from collections import Counter

from loadtest.model.results import CellResult
from loadtest.running.store import SAMPLES_KEPT, keep_samples


def test_every_run_gets_an_equal_share_of_the_kept_samples():
    samples: dict = {}
    for run in (1, 2, 3):
        values = [float(run)] * 10_000  # each run's samples carry its number
        keep_samples(samples, CellResult("uvicorn", "ws_echo", "ws_echo", run), values, runs=3)
    shares = Counter(samples["ws_echo"]["uvicorn"])
    assert shares == {1.0: SAMPLES_KEPT // 3, 2.0: SAMPLES_KEPT // 3, 3.0: SAMPLES_KEPT // 3}


def test_a_short_run_is_kept_whole_and_other_scenarios_not_at_all():
    samples: dict = {}
    keep_samples(samples, CellResult("uvicorn", "ws_chat", "ws_chat", 1), [1.0, 2.0], runs=1)
    keep_samples(samples, CellResult("uvicorn", "json", "http", 1), [1.0] * 100, runs=1)
    assert samples == {"ws_chat": {"uvicorn": [1.0, 2.0]}}
