"""Plugins of every test session: the allow-list of skip reasons (``tests/skips.py``; under
``SCALEDETECT_STRICT_SKIPS=1``, as in ``.ci/run``, any other skip fails) and ``pytester``, with
which ``tests/test_skips.py`` runs small sessions to test that rule.
"""

pytest_plugins = ["pytester", "skips"]
