"""Everything Qt: the GenStudio window. Nothing outside this package imports Qt."""
