"""Old name of :mod:`genstudio.host`, kept so that code written against it (branches merged
in the same round) still imports; new code imports ``genstudio.host``. Delete once nothing
imports it (``grep -rn "genstudio.plugins\\b"``)."""

import sys

import genstudio.host

sys.modules[__name__] = genstudio.host
