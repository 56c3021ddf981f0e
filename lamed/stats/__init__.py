"""The statistics of an experiment and the decision they lead to.

Pure functions on plain numbers, Python's standard library only (no numpy or
scipy), so the package ships in the Lambda bundle as is. Organised by
concern, as GrowthBook's gbstats is:

``inputs``        an arm's counts, its rate and interval, the plan (deciding test and parameters)
``frequentist``   the fixed-horizon z-test and the relative uplift's interval
``sequential``    the always-valid confidence sequence (the default deciding test)
``bayesian``      probability to beat the control and to be best (descriptive)
``power``         planning: visitors needed to decide, days left
``multiplicity``  Holm and Benjamini-Hochberg adjustment of many p-values
``special``       the regularised incomplete gamma function behind the chi-square tail
``srm``           the sample-ratio check of the traffic split
``summary``       every figure of one goal (per variant, per comparison), adjusted across goals
``decision``      what the figures say to do: the decision kinds and the rule

Every function takes its parameters by name (never a Settings); results are
NamedTuples. A figure that the data cannot define (a rate with zero trials, a
test with no variance) is None rather than NaN, so every result is
JSON-serialisable.
"""
