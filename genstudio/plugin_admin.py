"""Old name of :mod:`genstudio.host.admin`, kept so that code written against it (branches
merged in the same round) still imports; new code imports ``genstudio.host.admin``. Delete
once nothing imports it."""

import sys

import genstudio.host.admin

sys.modules[__name__] = genstudio.host.admin
