"""The served process's GC policy (``main.settle_heap`` / ``FreezeSurvivors``).

Run in a child interpreter: freezing is process-wide, and this test process must keep CPython's
defaults for the many apps the other tests create.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import gc
    from fhir_server.main import FreezeSurvivors, settle_heap

    settle_heap()
    settle_heap()  # idempotent: one policy callback
    assert sum(isinstance(c, FreezeSurvivors) for c in gc.callbacks) == 1
    assert gc.get_threshold() == (100_000, 20, 20)
    policy = next(c for c in gc.callbacks if isinstance(c, FreezeSurvivors))

    class Cycle:
        def __init__(self):
            self.me = self

    live = [[] for _ in range(1000)]
    cycles = [Cycle() for _ in range(100)]
    frozen = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= frozen + 1100  # a full collection froze its survivors

    del cycles  # garbage now, but frozen while alive: not reclaimed yet
    gc.collect()
    assert sum(isinstance(o, Cycle) for o in gc.get_objects()) == 0  # frozen objects are not listed
    gc.unfreeze()
    assert sum(isinstance(o, Cycle) for o in gc.get_objects()) == 100
    gc.freeze()

    grown = [[] for _ in range(2 * gc.get_freeze_count())]
    gc.collect()  # the frozen heap has more than doubled ...
    assert gc.get_freeze_count() > 2 * policy.baseline
    gc.collect()  # ... so the policy unfreezes: the next full collection looks at everything
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gc.get_freeze_count() > len(grown)  # survivors frozen again, growth measured from here
    assert abs(policy.baseline - gc.get_freeze_count()) < 100
    gc.unfreeze()
    assert sum(isinstance(o, Cycle) for o in gc.get_objects()) == 0  # the frozen cycles were reclaimed
    print("ok")
    """
)


def test_full_collections_freeze_survivors_and_growth_reclaims_frozen_cycles():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "ok", "")
