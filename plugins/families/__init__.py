"""The built-in model families as declarations: each module states a family's facts and
hyperparameters without importing its class (and torch), and registers it (see
:class:`genstudio.api.Family`). The classes live one level up, in :mod:`genstudio_plugins`."""
